"""The name index behind search."""

from __future__ import annotations

from streams.domain.name_index import (
    MAX_PER_TOKEN,
    IndexUpdate,
    Summary,
    apply_update,
    fold,
    index_updates,
    name_tokens,
    query_tokens,
    search,
)


def summary(customer_id: str, name: str) -> Summary:
    return Summary(customer_id=customer_id, name=name, phones=("+905321234567",))


def test_names_fold_case_and_diacritics() -> None:
    assert fold("Ayşe YILMAZ") == "ayse yilmaz"
    assert fold("İlkay Gündoğan") == "ilkay gundogan"
    assert fold("Łukasz Ørsted") == "lukasz orsted"


def test_a_name_is_found_by_each_word_and_by_the_whole() -> None:
    assert name_tokens("Ayşe Nur Yılmaz") == {"ayse", "nur", "yilmaz", "ayse nur yilmaz"}
    assert name_tokens("") == frozenset()
    assert query_tokens("  ayse   YILMAZ ") == ["ayse yilmaz", "ayse", "yilmaz"]


def test_a_renamed_customer_leaves_the_old_tokens() -> None:
    updates = index_updates(summary("c-1", "Ayse Kaya"), summary("c-1", "Ayse Yilmaz"))
    removed = {u.token for u in updates if u.summary is None}
    added = {u.token for u in updates if u.summary is not None}
    assert removed == {"kaya", "ayse kaya"}
    assert added == {"ayse", "yilmaz", "ayse yilmaz"}
    assert index_updates(summary("c-1", "A"), summary("c-1", "A")) == []


def test_an_entry_lists_each_customer_once_and_is_bounded() -> None:
    entries: list[Summary] = []
    for i in range(MAX_PER_TOKEN + 5):
        entries = apply_update(entries, IndexUpdate("ayse", f"c-{i}", summary(f"c-{i}", "Ayse")))
    entries = apply_update(entries, IndexUpdate("ayse", "c-3", summary("c-3", "Ayse")))
    assert len(entries) == MAX_PER_TOKEN
    assert entries[0].customer_id == "c-3"
    assert [e.customer_id for e in entries].count("c-3") == 1
    entries = apply_update(entries, IndexUpdate("ayse", "c-3", None))
    assert "c-3" not in {e.customer_id for e in entries}


def test_customers_with_every_word_rank_first() -> None:
    ayse_y = summary("c-1", "Ayşe Yılmaz")
    ayse_k = summary("c-2", "Ayse Kaya")
    mehmet_y = summary("c-3", "Mehmet Yilmaz")
    results = search([[ayse_y], [ayse_y, ayse_k], [ayse_y, mehmet_y]], "ayse yilmaz")
    assert results[0] == ayse_y
    assert {r.customer_id for r in results} == {"c-1", "c-2", "c-3"}


def test_summaries_survive_their_json_form() -> None:
    s = summary("c-1", "Ayse")
    assert Summary.from_json(s.as_json()) == s
