"""Tests for SMS keyword normalisation and classification."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.keywords import (
    DEFAULT_KEYWORDS,
    ENV_ACCEPT,
    ENV_DECLINE,
    ENV_OPT_OUT,
    SmsIntent,
    SmsKeywords,
    from_env,
    normalise_text,
)

ACCEPT_WORDS = ["YES", "Y", "YEAH", "YEP", "ACCEPT", "EVET", "KABUL", "ДА", "بله", "آره", "այո"]
DECLINE_WORDS = ["NO", "N", "NOPE", "HAYIR", "НЕТ", "نه", "نخیر", "ոչ"]
OPT_OUT_WORDS = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "İPTAL",
    "СТОП",
    "ОТПИСАТЬСЯ",
    "لغو",
    "ՉԵՂԱՐԿԵԼ",
]
ALL_DEFAULTS = (
    [(w, SmsIntent.ACCEPT) for w in ACCEPT_WORDS]
    + [(w, SmsIntent.DECLINE) for w in DECLINE_WORDS]
    + [(w, SmsIntent.OPT_OUT) for w in OPT_OUT_WORDS]
)
ASCII_DEFAULTS = [(w, i) for w, i in ALL_DEFAULTS if w.isascii()]


class TestSmsIntent:
    def test_values(self) -> None:
        assert [i.value for i in SmsIntent] == ["ACCEPT", "DECLINE", "OPT_OUT"]
        assert SmsIntent.OPT_OUT == "OPT_OUT"


class TestNormaliseText:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("  Yes  ", "yes"),
            ("YES", "yes"),
            ("Evet\n", "evet"),
            ("\u00a0да\u00a0", "да"),
            ("\tyes\r\n", "yes"),
            ("yes   please", "yes please"),
            ("yes\u00a0\u2003please", "yes please"),
            ("Yes!", "yes"),
            ("«да»", "да"),
            ("evet.", "evet"),
            ("بله؟", "بله"),
            ("¿¡yes!?", "yes"),
            ("(yes)", "yes"),
            ('"yes"', "yes"),
            ("yes 👍", "yes"),
            ("✅ yes ✅", "yes"),
            ("yes :)", "yes"),
            ("y.e.s", "y.e.s"),  # only the edges are trimmed
            ("ＹＥＳ", "yes"),  # fullwidth, as some Asian keyboards send
            ("", ""),
            ("   ", ""),
            ("?!", ""),
        ],
    )
    def test_examples(self, raw: str, expected: str) -> None:
        assert normalise_text(raw) == expected

    @pytest.mark.parametrize(
        "raw", ["İPTAL", "iptal", "IPTAL", "ıptal", "Iptal", "İptal", "I\u0307PTAL"]
    )
    def test_turkish_i_variants_fold_together(self, raw: str) -> None:
        assert normalise_text(raw) == "iptal"

    def test_turkish_dotless_i_in_hayir(self) -> None:
        assert normalise_text("hayır") == normalise_text("HAYIR") == "hayir"

    def test_combining_dot_above_dropped(self) -> None:
        # Casefolding a precomposed "İ" elsewhere yields "i" + U+0307.
        assert normalise_text("i\u0307ptal") == "iptal"

    @pytest.mark.parametrize(
        ("arabic", "persian"),
        [
            ("ي", "ی"),  # Arabic yeh
            ("ى", "ی"),  # alef maksura
            ("ك", "ک"),  # Arabic kaf
            ("ة", "ه"),  # teh marbuta
            ("ۀ", "ه"),  # heh with yeh above
        ],
    )
    def test_arabic_letters_fold_to_persian(self, arabic: str, persian: str) -> None:
        assert normalise_text(arabic) == persian

    def test_arabic_presentation_forms_fold(self) -> None:
        # Isolated-form yeh (U+FEF1) and kaf (U+FED9) from legacy encoders.
        assert normalise_text("\ufef1\ufed9") == "یک"

    def test_harakat_and_tatweel_removed(self) -> None:
        assert normalise_text("بَلِه") == "بله"
        assert normalise_text("بـــله") == "بله"
        assert normalise_text("نٌه") == "نه"
        assert normalise_text("لغوٰ") == "لغو"  # superscript alef U+0670

    def test_zero_width_and_format_characters_removed(self) -> None:
        assert normalise_text("نخ\u200cیر") == "نخیر"  # ZWNJ
        assert normalise_text("y\u200des") == "yes"  # ZWJ
        assert normalise_text("\u200fبله\u200f") == "بله"  # RLM bidi marks
        assert normalise_text("\ufeffyes") == "yes"  # BOM
        assert normalise_text("ye\u200bs") == "yes"  # zero-width space

    def test_recomposes_after_removing_format_characters(self) -> None:
        assert normalise_text("e\u200c\u0301") == normalise_text("é") == "é"

    @given(st.text())
    def test_idempotent(self, text: str) -> None:
        once = normalise_text(text)
        assert normalise_text(once) == once

    @given(st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
    def test_no_edge_whitespace_and_no_repeated_spaces(self, text: str) -> None:
        out = normalise_text(text)
        assert out == out.strip()
        assert "  " not in out


class TestDefaultKeywords:
    @pytest.mark.parametrize(("word", "intent"), ALL_DEFAULTS)
    def test_every_default_keyword(self, word: str, intent: SmsIntent) -> None:
        assert DEFAULT_KEYWORDS.classify(word) is intent

    @pytest.mark.parametrize(("word", "intent"), ALL_DEFAULTS)
    def test_every_default_keyword_lower_padded_punctuated(
        self, word: str, intent: SmsIntent
    ) -> None:
        assert DEFAULT_KEYWORDS.classify(word.lower()) is intent
        assert DEFAULT_KEYWORDS.classify(f"  {word}\n") is intent
        assert DEFAULT_KEYWORDS.classify(f"\u00a0{word}!!") is intent
        assert DEFAULT_KEYWORDS.classify(f"{word}.") is intent

    def test_defaults_are_disjoint(self) -> None:
        d = DEFAULT_KEYWORDS
        assert not (d.accept & d.decline or d.accept & d.opt_out or d.decline & d.opt_out)

    def test_ok_is_not_a_keyword(self) -> None:
        assert DEFAULT_KEYWORDS.classify("OK") is None
        assert DEFAULT_KEYWORDS.classify("ok") is None

    @pytest.mark.parametrize("raw", [" evet ", "EVET", "Evet\n", "evet", "eVeT."])
    def test_evet_variants(self, raw: str) -> None:
        assert DEFAULT_KEYWORDS.classify(raw) is SmsIntent.ACCEPT

    @pytest.mark.parametrize("raw", ["\u00a0да\u00a0", "Да", "ДА!", "«да»"])
    def test_da_variants(self, raw: str) -> None:
        assert DEFAULT_KEYWORDS.classify(raw) is SmsIntent.ACCEPT

    @pytest.mark.parametrize("raw", ["İPTAL", "iptal", "IPTAL", "ıptal", "İptal", " iptal. "])
    def test_turkish_iptal_variants_opt_out(self, raw: str) -> None:
        assert DEFAULT_KEYWORDS.classify(raw) is SmsIntent.OPT_OUT

    @pytest.mark.parametrize("raw", ["HAYIR", "hayır", "Hayır!", "hayir"])
    def test_turkish_hayir_variants_decline(self, raw: str) -> None:
        assert DEFAULT_KEYWORDS.classify(raw) is SmsIntent.DECLINE

    def test_persian_keyword_typed_with_arabic_yeh(self) -> None:
        assert DEFAULT_KEYWORDS.classify("نخير") is SmsIntent.DECLINE  # U+064A
        assert DEFAULT_KEYWORDS.classify("نخىر") is SmsIntent.DECLINE  # U+0649

    def test_persian_with_diacritics_zwnj_and_question_mark(self) -> None:
        assert DEFAULT_KEYWORDS.classify("بَله؟") is SmsIntent.ACCEPT
        assert DEFAULT_KEYWORDS.classify("نخ\u200cیر") is SmsIntent.DECLINE
        assert DEFAULT_KEYWORDS.classify("لـغو") is SmsIntent.OPT_OUT

    def test_armenian_case_insensitive(self) -> None:
        assert DEFAULT_KEYWORDS.classify("ԱՅՈ") is SmsIntent.ACCEPT
        assert DEFAULT_KEYWORDS.classify("Ոչ") is SmsIntent.DECLINE
        assert DEFAULT_KEYWORDS.classify("չեղարկել") is SmsIntent.OPT_OUT

    @pytest.mark.parametrize(
        "raw",
        [
            "yes but call me later",
            "no thanks, maybe next week",
            "stop calling me at work",  # a complaint for a person to read, not an opt-out keyword
            "please stop",
            "evet ama yarın",
            "да, но позже",
            "بله ولی فردا",
            "yess",
            "yesno",
            "y.e.s",
            "",
            "   ",
            "!!!",
            "👍",
            "hello",
        ],
    )
    def test_non_keyword_messages(self, raw: str) -> None:
        assert DEFAULT_KEYWORDS.classify(raw) is None


class TestCustomKeywords:
    def test_of_normalises(self) -> None:
        kw = SmsKeywords.of(accept=["  Sure! "], decline=["NAH"], opt_out=["İPTAL"])
        assert kw.accept == frozenset({"sure"})
        assert kw.decline == frozenset({"nah"})
        assert kw.opt_out == frozenset({"iptal"})

    def test_direct_construction_normalises_too(self) -> None:
        kw = SmsKeywords(accept=frozenset({"SURE"}), decline=frozenset(), opt_out=frozenset())
        assert kw.accept == frozenset({"sure"})
        assert kw.classify("Sure") is SmsIntent.ACCEPT

    def test_persian_keyword_matches_arabic_letters(self) -> None:
        kw = SmsKeywords.of(accept=["یک"])  # Persian yeh + keheh
        assert kw.classify("يك") is SmsIntent.ACCEPT  # Arabic yeh + kaf
        assert kw.classify("یک") is SmsIntent.ACCEPT

    def test_arabic_keyword_matches_persian_letters(self) -> None:
        kw = SmsKeywords.of(decline=["يك"])
        assert kw.decline == frozenset({"یک"})
        assert kw.classify("یک") is SmsIntent.DECLINE

    def test_multi_word_keyword(self) -> None:
        kw = SmsKeywords.of(opt_out=["stop all"])
        assert kw.classify("  STOP   ALL! ") is SmsIntent.OPT_OUT
        assert kw.classify("stop") is None

    @pytest.mark.parametrize("bad", ["", "   ", "!!", "👍"])
    def test_keyword_empty_after_normalisation_rejected(self, bad: str) -> None:
        with pytest.raises(ValueError, match="empty after normalisation"):
            SmsKeywords.of(accept=[bad])

    def test_bare_string_rejected(self) -> None:
        with pytest.raises(TypeError):
            SmsKeywords.of(accept="yes")

    def test_frozen_and_hashable(self) -> None:
        kw = SmsKeywords.of(accept=["yes"])
        with pytest.raises(AttributeError):
            kw.accept = frozenset()  # type: ignore[misc]
        assert hash(kw) == hash(SmsKeywords.of(accept=["YES"]))
        assert kw == SmsKeywords.of(accept=["YES!"])

    def test_picklable(self) -> None:
        assert pickle.loads(pickle.dumps(DEFAULT_KEYWORDS)) == DEFAULT_KEYWORDS


class TestPriority:
    def test_opt_out_beats_decline_beats_accept(self) -> None:
        kw = SmsKeywords.of(accept=["x", "y", "z"], decline=["x", "y"], opt_out=["x"])
        assert kw.classify("x") is SmsIntent.OPT_OUT
        assert kw.classify("y") is SmsIntent.DECLINE
        assert kw.classify("z") is SmsIntent.ACCEPT

    def test_opt_out_beats_accept(self) -> None:
        kw = SmsKeywords.of(accept=["cancel"], opt_out=["cancel"])
        assert kw.classify("CANCEL") is SmsIntent.OPT_OUT

    def test_priority_applies_after_normalisation(self) -> None:
        kw = SmsKeywords.of(accept=["iptal"], opt_out=["İPTAL"])
        assert kw.classify("ıptal") is SmsIntent.OPT_OUT


class TestFromEnv:
    def test_unset_keeps_defaults(self) -> None:
        assert SmsKeywords.from_env({}) == DEFAULT_KEYWORDS
        assert from_env({"UNRELATED": "x"}) == DEFAULT_KEYWORDS

    def test_set_replaces_only_that_set(self) -> None:
        kw = SmsKeywords.from_env({ENV_ACCEPT: "SURE, Tamam ,да"})
        assert kw.accept == frozenset({"sure", "tamam", "да"})
        assert kw.decline == DEFAULT_KEYWORDS.decline
        assert kw.opt_out == DEFAULT_KEYWORDS.opt_out
        assert kw.classify("yes") is None  # replaced, not merged
        assert kw.classify("Tamam!") is SmsIntent.ACCEPT
        assert kw.classify("no") is SmsIntent.DECLINE

    def test_all_three_variables(self) -> None:
        kw = from_env({ENV_ACCEPT: "a1", ENV_DECLINE: "d1,d2", ENV_OPT_OUT: "İPTAL,STOP"})
        assert kw == SmsKeywords.of(accept=["a1"], decline=["d1", "d2"], opt_out=["iptal", "stop"])
        assert kw.classify("IPTAL") is SmsIntent.OPT_OUT

    def test_variable_names(self) -> None:
        assert ENV_ACCEPT == "TOUCHLINE_SMS_ACCEPT_KEYWORDS"
        assert ENV_DECLINE == "TOUCHLINE_SMS_DECLINE_KEYWORDS"
        assert ENV_OPT_OUT == "TOUCHLINE_SMS_OPTOUT_KEYWORDS"

    def test_blank_items_ignored(self) -> None:
        kw = from_env({ENV_DECLINE: "nah,, ,nope,"})
        assert kw.decline == frozenset({"nah", "nope"})

    def test_empty_value_keeps_the_defaults(self) -> None:
        kw = from_env({ENV_ACCEPT: "", ENV_OPT_OUT: "  "})
        assert kw.accept == DEFAULT_KEYWORDS.accept
        assert kw.classify("yes") is SmsIntent.ACCEPT
        assert kw.classify("stop") is SmsIntent.OPT_OUT

    def test_priority_across_env_sets(self) -> None:
        kw = from_env({ENV_ACCEPT: "stop"})
        assert kw.classify("stop") is SmsIntent.OPT_OUT

    def test_punctuation_only_item_names_variable(self) -> None:
        with pytest.raises(ValueError, match=ENV_OPT_OUT):
            from_env({ENV_OPT_OUT: "stop,!!"})

    def test_explicit_defaults(self) -> None:
        base = SmsKeywords.of(accept=["a"], decline=["d"], opt_out=["o"])
        kw = SmsKeywords.from_env({ENV_DECLINE: "nah"}, defaults=base)
        assert kw == SmsKeywords.of(accept=["a"], decline=["nah"], opt_out=["o"])


_WHITESPACE = st.text(alphabet=" \t\n\r\u00a0\u2003\u3000", max_size=5)


@st.composite
def _recased(draw: st.DrawFn, word: str) -> str:
    flags = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.upper() if f else c.lower() for c, f in zip(word, flags, strict=True))


class TestClassificationProperties:
    @given(
        st.sampled_from(ASCII_DEFAULTS).flatmap(
            lambda wi: st.tuples(st.just(wi[1]), _recased(wi[0]), _WHITESPACE, _WHITESPACE)
        )
    )
    def test_ascii_keywords_invariant_under_case_and_whitespace(
        self, case: tuple[SmsIntent, str, str, str]
    ) -> None:
        intent, word, before, after = case
        assert DEFAULT_KEYWORDS.classify(before + word + after) is intent

    @given(
        st.sampled_from(ALL_DEFAULTS),
        _WHITESPACE,
        _WHITESPACE,
        st.text(alphabet="!?.,;:…«»\"'()؟¡¿👍🙂", max_size=4),
    )
    def test_all_keywords_invariant_under_padding_and_trailing_punctuation(
        self, wi: tuple[str, SmsIntent], before: str, after: str, punct: str
    ) -> None:
        word, intent = wi
        assert DEFAULT_KEYWORDS.classify(before + word + punct + after) is intent

    @given(st.text())
    def test_classification_invariant_under_surrounding_whitespace(self, text: str) -> None:
        assert DEFAULT_KEYWORDS.classify(f" \n{text}\u00a0 ") == DEFAULT_KEYWORDS.classify(text)

    @given(st.text())
    def test_classify_equals_classify_of_normalised(self, text: str) -> None:
        assert DEFAULT_KEYWORDS.classify(normalise_text(text)) == DEFAULT_KEYWORDS.classify(text)

    @given(st.sampled_from(ALL_DEFAULTS), st.text(alphabet="abcxyz", min_size=1, max_size=10))
    def test_keyword_followed_by_words_is_not_a_reply(
        self, wi: tuple[str, SmsIntent], tail: str
    ) -> None:
        # No default keyword contains a space, so any "<keyword> <word>" is a sentence.
        word, _ = wi
        assert DEFAULT_KEYWORDS.classify(f"{word} {tail}") is None
        assert DEFAULT_KEYWORDS.classify(f"{tail} {word}") is None
