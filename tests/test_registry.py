from importlib.metadata import EntryPoint

import pytest

from hcvg.registry import Registry, UnknownNameError


class Base:
    pass


class Good(Base):
    pass


def test_lazy_entries_resolve_on_first_use():
    registry = Registry("thing", base=Base)
    registry.register("good", f"{__name__}:Good")
    assert registry.names() == ["good"]
    assert registry.get("good") is Good


def test_unknown_name_suggests_close_matches():
    registry = Registry("adapter")
    registry.register("static", object())
    registry.register("oracle", object())
    with pytest.raises(UnknownNameError, match="Did you mean: static"):
        registry.get("statik")


def test_base_class_is_checked():
    registry = Registry("thing", base=Base)
    registry.register("wrong", f"{__name__}:test_base_class_is_checked")  # a function is a factory: allowed
    registry.register("wrong-class", "collections:OrderedDict")
    with pytest.raises(TypeError, match="not a Base"):
        registry.get("wrong-class")


def test_frozen_registry_refuses_new_entries():
    registry = Registry("thing")
    registry.freeze()
    with pytest.raises(RuntimeError, match="frozen"):
        registry.register("x", object())


def test_duplicate_name_is_an_error():
    registry = Registry("thing")
    registry.register("x", Good)
    registry.register("x", Good)  # same object again is fine
    with pytest.raises(ValueError, match="already registered"):
        registry.register("x", Base)


def test_pattern_query_and_decorator():
    registry = Registry("thing")

    @registry.register("clip-gt")
    class ClipGT:
        pass

    registry.register("clip-tx", object())
    registry.register("fid", object())
    assert registry.names("clip-*") == ["clip-gt", "clip-tx"]
    assert registry.get("clip-gt") is ClipGT


def test_entry_points_join_the_registry_without_shadowing_builtins():
    registry = Registry("adapter", base=Base, entry_point_group="hcvg.adapters")
    registry.register("static", Good)
    eps = [
        EntryPoint(name="third-party", value=f"{__name__}:Good", group="hcvg.adapters"),
        EntryPoint(name="static", value="collections:OrderedDict", group="hcvg.adapters"),
    ]
    assert registry.load_entry_points(eps) == ["third-party"]
    assert registry.get("third-party") is Good
    assert registry.get("static") is Good
