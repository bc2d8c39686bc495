"""Korean and Japanese text: keyword search with character bigrams, and honest notices for the English model."""

from __future__ import annotations

from pathlib import Path

import pytest

import rag
from rag.ingest.terms import tokenize
from rag.retrieve.bm25 import BM25
from rag.retrieve.vocabulary import question_script, uncovered_script

DOCS = {
    "ko_partnership.md": "KT는 마이크로소프트와 인공지능 및 클라우드 분야에서 전략적 파트너십을 체결했다. "
    "양사는 서울에 혁신 센터를 설립할 계획이다.",
    "ko_kimchi.md": "김치는 배추와 고춧가루로 만드는 한국의 전통 발효 음식이다. 김장은 보통 11월에 한다.",
    "ko_subway.md": "서울 지하철은 하루 평균 칠백만 명이 이용한다. 교통카드로 버스와 지하철을 갈아탈 수 있다.",
    "ja_shinkansen.md": "新幹線は東京と大阪を約二時間半で結んでいる。最高速度は時速三百二十キロメートルである。",
    "ja_matcha.md": "抹茶は京都の宇治で多く生産されている。茶道では抹茶を点てて客をもてなす。",
    "ja_onsen.md": "箱根の温泉は東京から近く、週末に多くの観光客が訪れる。露天風呂から富士山が見える。",
    "ko_meeting.md": "이번 회의는 3월 5일 서울 본사에서 열렸다. 참석자는 모두 열두 명이었고 회의는 두 시간 "
    "동안 이어졌다. 다음 회의는 부산 지사에서 열릴 예정이다.",
}
QUERIES = [
    ("KT는 누구와 파트너십을 체결했나요?", "ko_partnership.md"),
    ("김치는 무엇으로 만드나요?", "ko_kimchi.md"),
    ("지하철을 하루에 몇 명이 이용하나요?", "ko_subway.md"),
    ("新幹線の最高速度は?", "ja_shinkansen.md"),
    ("抹茶はどこで生産されていますか?", "ja_matcha.md"),
    ("箱根の温泉から何が見えますか?", "ja_onsen.md"),
]


def test_particles_come_off_and_cjk_runs_become_bigrams() -> None:
    assert tokenize("KT는 협력했나요") == ["kt", "는", "협력", "력했", "했나", "나요"]
    assert tokenize("東京と大阪") == ["東京", "京と", "と大", "大阪"]
    assert tokenize("Companies signed") == ["company", "sign"]  # English is tokenized as before


def test_keyword_search_finds_korean_and_japanese_text() -> None:
    names = list(DOCS)
    index = BM25([DOCS[name] for name in names])
    found = sum(names[index.top(query, 1)[0]] == wanted if index.top(query, 1) else 0 for query, wanted in QUERIES)
    assert found == len(QUERIES)  # recall@1 over three Korean and three Japanese questions


def test_scripts_the_embedding_model_does_not_read_are_named() -> None:
    assert question_script("KT는 누구와 협력했나요?") == "Korean"
    assert question_script("新幹線の最高速度は?") == "Japanese"
    assert question_script("新干线的最高速度是多少?") == "Chinese"
    assert uncovered_script("KT는 누구와 협력했나요?", "sentence-transformers/all-MiniLM-L6-v2") == "Korean"
    assert uncovered_script("Who signed?", "sentence-transformers/all-MiniLM-L6-v2") is None
    assert uncovered_script("KT는 누구와 협력했나요?", "intfloat/multilingual-e5-small") is None


@pytest.fixture(scope="module")
def cjk_bot(tmp_path_factory: pytest.TempPathFactory) -> rag.Bot:
    root = tmp_path_factory.mktemp("cjk")
    (root / "docs").mkdir()
    for name, text in DOCS.items():
        (root / "docs" / name).write_text(text, encoding="utf-8")
    return rag.load(root / "docs", root / "index", progress=False)


@pytest.mark.parametrize(("question", "source"), QUERIES)
def test_a_question_in_the_documents_script_is_answered_from_keywords(
    cjk_bot: rag.Bot, question: str, source: str
) -> None:
    answer = cjk_bot.ask(question)
    assert not answer.refused, (answer.text, answer.notice)
    assert answer.citations[0].source == source
    assert answer.notice is not None and "keyword search" in answer.notice


def test_a_korean_answer_quotes_the_one_sentence_that_answers(cjk_bot: rag.Bot) -> None:
    # Issue 23: the paragraph was one "sentence" (no split at "다."), so all of it was quoted, or it was refused.
    answer = cjk_bot.ask("회의가 열린 장소는 어디인가요?")
    assert not answer.refused, (answer.text, answer.notice)
    assert answer.text.startswith("이번 회의는 3월 5일 서울 본사에서 열렸다.")
    assert "참석자는" not in answer.text


def test_a_korean_question_over_english_documents_is_refused_with_a_reason(seed_bot: rag.Bot) -> None:
    answer = seed_bot.ask("KT는 누구와 협력했나요?")
    assert answer.refused
    assert answer.notice is not None and "Korean" in answer.notice and "all-MiniLM-L6-v2" in answer.notice


def test_cjk_tokens_do_not_change_english_retrieval(seed_bot: rag.Bot, tmp_path: Path) -> None:
    assert not seed_bot.ask("Where was the KT-Microsoft agreement signed?").refused
