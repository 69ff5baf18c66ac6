from taskgate.domain.selectors import Selector, SelectorKind
from taskgate.domain.startfilter import StartFilter

FILTER = StartFilter.of(
    ["E3B27F50-B1C0-4879-88FC-C7CDD9C1CF3E"], ["startTask1"], [("taskGroup", "tasks1")]
)


def test_each_kind_is_checked_against_its_own_list() -> None:
    assert FILTER.allows(Selector(SelectorKind.ID, "e3b27f50-b1c0-4879-88fc-c7cdd9c1cf3e"))
    assert not FILTER.allows(Selector(SelectorKind.ID, "7552d9fc-d1bb-4975-9a38-18357de531ea"))
    assert FILTER.allows(Selector(SelectorKind.TAG, "startTask1"))
    assert not FILTER.allows(Selector(SelectorKind.TAG, "starttask1"))  # exact, as Butler
    assert FILTER.allows(Selector(SelectorKind.PROPERTY, "tasks1", "taskGroup"))
    assert not FILTER.allows(Selector(SelectorKind.PROPERTY, "tasks2", "taskGroup"))
    assert not FILTER.allows(Selector(SelectorKind.LABEL, "app1"))


def test_an_empty_id_list_lets_no_id_through() -> None:
    # Tags and properties listed, no ids: an id is allowed only when it is on the id list,
    # so every id is denied (not "no id list, so no id filter").
    only_groups = StartFilter.of([], ["startTask1"], [("taskGroup", "tasks1")])
    assert not only_groups.allows(Selector(SelectorKind.ID, "e3b27f50-b1c0-4879-88fc-c7cdd9c1cf3e"))
    assert only_groups.allows(Selector(SelectorKind.TAG, "startTask1"))
    assert only_groups.allows(Selector(SelectorKind.PROPERTY, "tasks1", "taskGroup"))
