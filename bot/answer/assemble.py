"""From ranked passages to quotes: in each passage the sentences that answer best, grown to whole
sentences of context, in the question's language where a version exists, one statement quoted at
most a few times, reposts folded."""
from __future__ import annotations

from index.search import Hit, idf
from index.settings import AnswerSettings
from index.store import SentenceRecord, StoreReader
from index.textnorm import normalize, stems, words

from .types import Quote
from .asked import Asked
from .quotes import extend, joinable_run, make_quote, sentence_text, statement_group, versions_of
from .vectors import QuestionVectors


def is_statement(text: str) -> bool:
    """Worth quoting as an answer: a sentence ("Nein!") or at least four words, not a bare label such
    as a post's "X (ex-Twitter)" or "Facebook" link lines."""
    stripped = text.rstrip(" \n\t\"'»”“)")
    return stripped.endswith((".", "!", "?", "…", ":", ";")) or len([w for w in words(text) if len(w) > 1]) >= 4


class QuoteAssembler:
    def __init__(self, tuning: AnswerSettings, vectors: QuestionVectors):
        self.tuning, self.vectors = tuning, vectors

    def sentence_scores(self, store: StoreReader, q: Asked, sents: list[SentenceRecord],
                        doc_lang: str | None) -> dict[int, float]:
        """How well each sentence answers: its cosine with the question (the model reads across
        languages), with the question's rarer words found in it as a small tie-breaker."""
        vecs = self.vectors.sentences(store, sents)
        q_terms = set(stems(q.text, doc_lang or q.lang)) | set(stems(q.text, q.lang))
        weights = idf(store, [t for t in q_terms if len(t) > 1])
        total = sum(weights.values()) or 1.0
        scores = {}
        for s, v in zip(sents, vecs):
            have = set(stems(sentence_text(store, s), doc_lang))
            lexical = sum(w for t, w in weights.items() if t in have) / total
            scores[s.id] = float(v @ q.vector) + self.tuning.lexical_tiebreak * lexical
        return scores

    def quotes(self, store: StoreReader, q: Asked, hits: list[Hit], want: int) -> list[Quote]:
        t = self.tuning
        quotes: list[Quote] = []
        seen_docs: list[int] = []
        seen_text: set[str] = set()
        for h in hits[: t.candidates]:  # the ranking stage has left out what is not worth quoting
            sents = store.sentences_of_passage(h.passage_id)
            if not sents:
                continue
            doc_id = sents[0].doc_id
            doc = store.document(doc_id)
            doc_lang = doc.language if doc else None
            group = statement_group(store, doc_id)
            if sum(1 for d in seen_docs if d in group) >= t.per_statement:
                continue
            if t.sentence_choice:
                scores = self.sentence_scores(store, q, sents, doc_lang)
                best = max(sents, key=lambda s: (scores.get(s.id, 0.0), -s.start))
            else:  # measuring what the choice buys: the passage's first sentence, grown forwards
                scores = {s.id: -float(i) for i, s in enumerate(sents)}
                best = sents[0]
            run = joinable_run(store, best)
            outside = [s for s in run if s.id not in scores]
            if outside and t.sentence_choice:
                scores.update(self.sentence_scores(store, q, outside, doc_lang))
            chosen = extend(best, run, scores, t.max_quote_sentences, t.max_quote_chars)
            versions = versions_of(store, chosen)
            main = chosen
            if doc_lang != q.lang:  # quote the version in the question's language where one exists,
                # else the original: the file's first document when it holds its own translations
                pick = next((d for d in versions if _language(store, d) == q.lang), None)
                if pick is None:
                    pick = store.earlier_in_file(doc_id, list(versions))
                if pick is not None:
                    main = versions[pick]
                    versions = {doc_id: chosen, **{d: v for d, v in versions.items() if d != pick}}
            quote = make_quote(store, main, h.score)
            if quote is None or not is_statement(quote.text):
                continue
            key = normalize(quote.text)
            if key in seen_text and t.fold_reposts:  # a repost of the same words: fold it
                continue
            quote.versions = [v for v in (make_quote(store, vs, h.score) for vs in versions.values()) if v]
            if any(o.document_id in group and o.start < quote.end and quote.start < o.end for o in quotes):
                continue  # overlaps a quote already taken from this statement
            quotes.append(quote)
            seen_docs.append(doc_id)
            seen_text.add(key)
            if len(quotes) >= want:
                break
        return quotes


def _language(store: StoreReader, doc_id: int) -> str | None:
    doc = store.document(doc_id)
    return doc.language if doc else None
