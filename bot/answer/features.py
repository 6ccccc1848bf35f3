"""Features of candidate passages, the input of a learnt ranking stage (bot/answer/learnt.py).

Every feature is a number the record gives for a (question, passage) pair; question-level ones are
repeated on each of its candidates. Names are part of the data file a ranker is fitted into, so a
fitted model and the code computing its inputs cannot drift apart unnoticed.
"""
from __future__ import annotations

from collections.abc import Collection

import numpy as np

from index.search import Hit
from index.settings import AnswerSettings
from index.store import StoreReader
from index.textnorm import capitalised_words

from .asked import Asked
from .evidence import common_word, lexical_coverages, passages_text
from .names import entities, missing_entities, phonetic
from .vectors import QuestionVectors

FEATURES = (
    "dense",  # cosine with the question (other languages' bonus included); the list's floor when absent
    "dense_gap",  # the best candidate's cosine minus this one's
    "fused",  # reciprocal-rank fusion score, x61 (1.0 = first in one list)
    "dense_rr",  # 1/(1+rank) in the dense list, 0 when absent
    "fts_rr",  # 1/(1+rank) in the full-text list, 0 when absent
    "speaker_rr",  # 1/(1+rank) among the named speaker's nearest passages, 0 when absent
    "same_language",  # the passage is in the question's language
    "speaker_named",  # the passage's speaker is named in the question
    "names_missing",  # names of the question this passage does not carry
    "lexical",  # idf-weighted share of the question's stems in the passage
    "q_names",  # the question turns on names
    "q_names_absent",  # a name of the question is in none of the ten best passages (spelling, sound, model)
    "q_best_dense",  # the best candidate's cosine
    "rule_rr",  # 1/(1+rank) in the hand-set rules' order (fused score, speaker bonus, missing-name penalty)
    "sentence_best",  # the best cosine of one of the passage's sentences with the question (stored vectors)
    "sentence_gap",  # the best candidate's sentence_best minus this one's
    "cross_encoder",  # the optional cross-encoder's score of (question, passage) for the best ones; 0 when off
)


def names_absent(store: StoreReader, q: Asked, passage_ids: list[int], tuning: AnswerSettings,
                 vectors: QuestionVectors, languages: list[str]) -> bool:
    """A name the question turns on is in none of the passages: not by spelling or sound, and the
    model puts no capitalised word of theirs close to it (Moskau ~ Moscow counts as found)."""
    found = passages_text(store, passage_ids, languages)
    missing = [m for m in missing_entities(q.text, found, q.lang)
               if not common_word(store, m, q.lang, tuning.common_word_share)]
    if not missing:
        return False
    words_found = capitalised_words(found)
    # another spelling or language of a name starts alike (Moskau/Moscow)
    candidates = {name: [w for w in words_found if phonetic(w)[:1] == phonetic(name)[:1]] for name in missing}
    if not all(candidates.values()):
        return True
    # every word in one call to the model: a call has a fixed cost (a large model's weights are read
    # once per call: about 0.2 s for EmbeddingGemma on this project's 2-core machine)
    # (the passages' words, and names the index holds, are read from it: embedded with the passages)
    vectors.words(list(dict.fromkeys([*missing, *(w for ws in candidates.values() for w in ws)])), store)
    return any(float((vectors.words(ws, store) @ vectors.words([name], store)[0]).max()) < tuning.entity_min_cosine
               for name, ws in candidates.items())


def best_sentence_cosines(store: StoreReader, q: Asked, hits: list[Hit], vectors: QuestionVectors) -> list[float]:
    """Each passage's best sentence by cosine with the question: a passage that holds the one sentence
    answering it, among others that do not, is found by this where its whole-passage vector is diluted.
    Sentence vectors are stored with the index (one read for all candidates)."""
    of = store.sentences_of_passages(h.passage_id for h in hits)
    per_hit = [of[h.passage_id] for h in hits]
    flat = [s for sents in per_hit for s in sents]
    if not flat:
        return [0.0] * len(hits)
    cos = vectors.sentences(store, flat) @ q.vector
    out, i = [], 0
    for sents in per_hit:
        out.append(float(cos[i : i + len(sents)].max()) if sents else 0.0)
        i += len(sents)
    return out


def candidate_features(store: StoreReader, q: Asked, hits: list[Hit], tuning: AnswerSettings,
                       vectors: QuestionVectors, languages: list[str], reranker=None,
                       read: Collection[str] | None = None) -> np.ndarray:
    """One row of FEATURES per hit (in the order given). `reranker`: bot.answer.rerank.CrossEncoderScores
    or None (the cross_encoder column is then 0). `read`: the features a ranker reads, when not all
    (the best-sentence columns, which cost a read of every candidate's sentences, are 0 if unread)."""
    if not hits:
        return np.zeros((0, len(FEATURES)), dtype=np.float64)
    store.passages(h.passage_id for h in hits)  # one read for all (a server-backed store remembers them)
    dense = [h.dense for h in hits if h.dense is not None]
    best = max(dense, default=0.0)
    floor = min(dense, default=0.0)
    order = sorted(hits, key=lambda h: -h.score)
    q_names = bool(entities(q.text, q.lang))
    absent = names_absent(store, q, [h.passage_id for h in order[: tuning.entity_passages]], tuning, vectors,
                          languages)
    langs = store.passage_languages(h.passage_id for h in hits)
    missing = [len(missing_entities(q.text, passages_text(store, [h.passage_id], languages), q.lang))
               if q_names else 0 for h in hits]
    rule = [h.score + tuning.speaker_bonus * h.speaker_named - tuning.named_penalty * m for h, m in zip(hits, missing)]
    rule_rank = {i: r for r, i in enumerate(sorted(range(len(hits)), key=lambda i: -rule[i]))}
    cross = reranker.scores(store, q.text, hits) if reranker is not None else [0.0] * len(hits)
    lexical = lexical_coverages(store, q.text, q.lang, [h.passage_id for h in hits])
    if read is None or {"sentence_best", "sentence_gap"} & set(read):
        sentence_best = best_sentence_cosines(store, q, hits, vectors)
    else:
        sentence_best = [0.0] * len(hits)
    top_sentence = max(sentence_best, default=0.0)
    rows = []
    for n, h in enumerate(hits):
        d = h.dense if h.dense is not None else floor
        rows.append((
            d,
            best - d,
            h.score * 61.0,
            0.0 if h.dense_rank is None else 1.0 / (1 + h.dense_rank),
            0.0 if h.fts_rank is None else 1.0 / (1 + h.fts_rank),
            0.0 if h.speaker_rank is None else 1.0 / (1 + h.speaker_rank),
            float(langs.get(h.passage_id) == q.lang),
            float(h.speaker_named),
            float(missing[n]),
            lexical[n],
            float(q_names),
            float(absent),
            best,
            1.0 / (1 + rule_rank[n]),
            sentence_best[n],
            top_sentence - sentence_best[n],
            cross[n],
        ))
    return np.asarray(rows, dtype=np.float64)
