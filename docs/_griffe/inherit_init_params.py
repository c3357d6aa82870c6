"""Griffe extension for the docs build: show inherited ``__init__`` parameters in signatures.

The operators take shared parameters through ``**kwargs`` (``OneAtlasOrderOperator`` gets
``image_ids``, ``aoi``, ... from ``OneAtlasProductOperator.__init__``, every operator gets
``oneatlas_conn_id`` from ``OneAtlasBaseOperator``) and document them in their own docstring.
Griffe only sees ``**kwargs`` and would warn that the documented parameters are not in the
signature; this extension copies the keyword parameters of the base classes' ``__init__`` (within
the provider package) in front of ``**kwargs``, which is what Python does at run time.

Not part of the provider: used only by ``mkdocs.yml``.
"""

from __future__ import annotations

from typing import Any

from griffe import Class, Extension, Module, Parameter, ParameterKind, Parameters

_KEYWORD_KINDS = (ParameterKind.keyword_only, ParameterKind.positional_or_keyword)


def _classes(module: Module) -> list[Class]:
    found: list[Class] = []
    stack: list[Any] = [module]
    while stack:
        obj = stack.pop()
        for member in obj.members.values():
            if member.is_alias:
                continue
            if member.is_module or member.is_class:
                stack.append(member)
            if member.is_class:
                found.append(member)
    return found


def _mro(cls: Class) -> list[Class]:
    # Bases outside the loaded package (Airflow's BaseOperator) are skipped by griffe; only an
    # impossible linearization raises.
    try:
        return cls.mro()
    except ValueError:
        return []


class InheritInitParameters(Extension):
    def on_package(self, *, pkg: Module, **kwargs: Any) -> None:
        for cls in _classes(pkg):
            init = cls.members.get("__init__")
            if init is None or init.is_alias or not init.is_function:
                continue
            params = list(init.parameters)
            var_kw = [p for p in params if p.kind is ParameterKind.var_keyword]
            if not var_kw:
                continue
            known = {p.name for p in params}
            inherited: list[Parameter] = []
            for base in _mro(cls):
                base_init = base.members.get("__init__")
                if base_init is None or base_init.is_alias or not base_init.is_function:
                    continue
                for param in base_init.parameters:
                    if param.kind in _KEYWORD_KINDS and param.name not in known and param.name != "self":
                        inherited.append(
                            Parameter(
                                param.name,
                                annotation=param.annotation,
                                kind=ParameterKind.keyword_only,
                                default=param.default,
                                docstring=param.docstring,
                            )
                        )
                        known.add(param.name)
            if inherited:
                index = params.index(var_kw[0])
                init.parameters = Parameters(*params[:index], *inherited, *params[index:])
