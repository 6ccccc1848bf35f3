"""A learnt ranking stage: logistic regression over candidate features (bot/answer/features.py).

Its parameters are data, fitted on questions with gold quotes by `onrecord calibrate` and tied to
the embedding model that produced the cosines they were fitted on:

    {"model": "<embedder name>", "features": [...], "mean": [...], "scale": [...],
     "coef": [...], "intercept": x, "threshold": p, "answer_model": {...}, "fitted_on": {...},
     "answer_settings": {...}}

A candidate's score is the probability that it holds the answer, from the features named in
`features` (CANDIDATE_FEATURES, plus the cross-encoder's score when one is set). Whether the question is answered at
all is a second, question-level logistic regression over the ranked candidates (the best and second
probabilities, whether a name of the question is absent, the best cosine, the words covered...):
answered when its probability reaches `threshold`, chosen on the fitting questions so that at most
`max_declined` of the answerable ones are declined. The answer model and its threshold read the fitting
questions' candidates as scored out of fold (by a candidate model fitted without their statement), as
a new question's will be: fitted on in-sample scores they were too sure of the candidates and declined
more answerable questions (cross-validated: EmbeddingGemma 6 -> 4 of 180 declined, hit@3 166 -> 168).

`answer_settings` holds the answer settings on a cosine scale (index.settings.AnswerSettings: margins,
bonuses, the name threshold) as measured for this model; the engine uses them with the calibration,
unless the user set one (ONRECORD_ANSWER_*). The defaults are multilingual-e5-small's scale.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.search import Hit
from index.settings import AnswerSettings
from index.store import StoreReader

from .asked import Asked
from .features import FEATURES, candidate_features

# What the candidate model reads: every feature but the optional cross-encoder's (added when one is
# set). Measured cross-validated with the whole engine (5 folds grouped by statement, 206 dev questions,
# e5-small): the dense features alone give hit@3 0.82, doc-hit@3 0.91, cross-lingual 0.71; with the
# others 0.84, 0.93, 0.73 (README, "Answer quality").
CANDIDATE_FEATURES = tuple(f for f in FEATURES if f != "cross_encoder")
from .rank import Ranking
from .vectors import QuestionVectors

CALIBRATION_DIR = Path(__file__).with_name("calibration")  # shipped calibrations, one file per model
MAX_DECLINED = 0.03  # share of the answerable fitting questions the answer threshold may decline


@dataclass
class RankerParams:
    model: str
    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    threshold: float  # on the question-level probability that the record answers
    answer_model: dict = field(default_factory=dict)  # question level: mean, scale, coef, intercept
    fitted_on: dict = field(default_factory=dict)
    answer_settings: dict = field(default_factory=dict)  # AnswerSettings field -> this model's value

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """x: every candidate's row of FEATURES; the model reads the columns named in `features`."""
        if len(x) == 0:
            return np.zeros(0)
        return _logistic(x[:, _columns(self.features)], self.mean, self.scale, self.coef, self.intercept)

    def answered(self, x: np.ndarray, p: np.ndarray) -> float:
        """Probability that the record answers the question, from its candidates' features and scores."""
        if len(x) == 0:
            return 0.0
        m = self.answer_model
        return float(_logistic(question_features(x, p)[None, :], m["mean"], m["scale"], m["coef"], m["intercept"])[0])


    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "RankerParams":
        data = json.loads(path.read_text(encoding="utf-8"))
        params = cls(**data)
        unknown = set(params.answer_settings) - set(AnswerSettings.model_fields)
        if (unknown or not set(params.features) <= set(FEATURES) or len(params.coef) != len(params.features)
                or params.answer_model.get("features") != list(QUESTION_FEATURES)):
            raise ValueError(f"{path} was fitted on other features ({params.features}) or settings "
                             f"({sorted(unknown)}); run `onrecord calibrate` again")
        return params


QUESTION_FEATURES = ("best", "second", "q_names_absent", "q_best_dense", "top_lexical", "top_names_missing",
                     "q_names", "max_lexical")


def question_features(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """What the ranked candidates say about the question as a whole (QUESTION_FEATURES)."""
    col = {n: i for i, n in enumerate(FEATURES)}
    order = np.argsort(-p)
    top = x[order[0]]
    return np.array([p[order[0]], p[order[1]] if len(order) > 1 else 0.0, top[col["q_names_absent"]],
                     top[col["q_best_dense"]], top[col["lexical"]], top[col["names_missing"]], top[col["q_names"]],
                     x[:, col["lexical"]].max()], dtype=np.float64)


def _columns(names) -> list[int]:
    return [FEATURES.index(n) for n in names]


def _logistic(x: np.ndarray, mean, scale, coef, intercept) -> np.ndarray:
    z = (x - np.asarray(mean)) / np.asarray(scale)
    return 1.0 / (1.0 + np.exp(-(z @ np.asarray(coef) + intercept)))


def with_model_settings(tuning: AnswerSettings, params: RankerParams) -> AnswerSettings:
    """The answer settings with the calibration's values for its model, except those the user set."""
    update = {k: v for k, v in params.answer_settings.items() if k not in tuning.model_fields_set}
    return tuning.model_copy(update=update) if update else tuning


def calibration_file(model_name: str, folder: Path = CALIBRATION_DIR) -> Path:
    """Where the calibration of a model lives: its name made safe as a file name."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_name.split(":")[0].split("/")[-1])
    return folder / f"{safe}.json"


def _scaled_logistic(x: np.ndarray, y: np.ndarray, c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    lr = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit((x - scaler.mean_) / scale, y)
    return scaler.mean_.tolist(), scale.tolist(), lr.coef_[0].tolist(), float(lr.intercept_[0])


def fit(x: np.ndarray, y: np.ndarray, question_of: np.ndarray, answerable: dict[int, bool], model: str,
        max_declined: float = MAX_DECLINED, c: float = 1.0,
        features: tuple[str, ...] = CANDIDATE_FEATURES, groups: dict[int, int] | None = None,
        inner_folds: int = 0) -> RankerParams:
    """Fit the candidate model, then the question-level answer model on the fitting questions' ranked
    candidates, then its threshold: the highest that declines at most `max_declined` of the answerable
    fitting questions. With `inner_folds` > 1 the answer model and threshold read each fitting question's
    candidates as scored by a candidate model fitted without its statement (`groups`: question -> statement;
    unlisted questions are their own), as new questions will be scored."""
    mean, scale, coef, intercept = _scaled_logistic(x[:, _columns(features)], y, c)
    params = RankerParams(model, list(features), mean, scale, coef, intercept, 0.5)
    p = params.probabilities(x)
    if inner_folds > 1:
        p = _out_of_fold(x[:, _columns(features)], y, question_of, groups or {}, inner_folds, c, p)
    rows, labels = [], []
    for qi, ok in answerable.items():
        mask = question_of == qi
        if mask.any():
            rows.append(question_features(x[mask], p[mask]))
            labels.append(int(ok))
    rows_x, labels_y = np.asarray(rows), np.asarray(labels)
    if len(set(labels)) < 2:  # nothing to tell apart: answer whenever there are candidates
        params.answer_model = {"features": list(QUESTION_FEATURES), "mean": [0.0] * len(QUESTION_FEATURES),
                               "scale": [1.0] * len(QUESTION_FEATURES), "coef": [0.0] * len(QUESTION_FEATURES),
                               "intercept": 10.0}
        params.threshold = 0.0
        return params
    qm, qs, qc, qi_ = _scaled_logistic(rows_x, labels_y, c)
    params.answer_model = {"features": list(QUESTION_FEATURES), "mean": qm, "scale": qs, "coef": qc, "intercept": qi_}
    answered = np.sort(_logistic(rows_x[labels_y == 1], qm, qs, qc, qi_))
    k = int(np.floor(max_declined * len(answered)))
    params.threshold = float(answered[k]) - 1e-9 if k < len(answered) else 0.0
    return params


def _out_of_fold(x: np.ndarray, y: np.ndarray, question_of: np.ndarray, groups: dict[int, int], k: int, c: float,
                 fallback: np.ndarray) -> np.ndarray:
    """Each candidate's probability from a candidate model fitted on the other statements' questions
    (k folds of statements); `fallback` where a fold's fitting part has one class only."""
    from sklearn.model_selection import GroupKFold

    statement = np.asarray([groups.get(int(q), -1 - int(q)) for q in question_of])
    if len(set(statement.tolist())) < k:
        return fallback
    out = fallback.copy()
    for train, test in GroupKFold(n_splits=k).split(x, y, statement):
        if len(set(y[train].tolist())) < 2:
            continue
        m, s, w, b = _scaled_logistic(x[train], y[train], c)
        out[test] = _logistic(x[test], m, s, w, b)
    return out


def candidate_features_for(reranker, drop: tuple[str, ...] = ()) -> tuple[str, ...]:
    """What a calibration fitted now reads: every candidate feature but those dropped (measured not to help
    a model under cross-validation), and the cross-encoder's score when one is set."""
    unknown = set(drop) - set(CANDIDATE_FEATURES)
    if unknown:
        raise ValueError(f"unknown features {sorted(unknown)}: choose from {', '.join(CANDIDATE_FEATURES)}")
    return tuple(f for f in CANDIDATE_FEATURES if f not in drop) + (("cross_encoder",) if reranker is not None else ())


class LearntRanker:
    def __init__(self, params: RankerParams, tuning: AnswerSettings, vectors: QuestionVectors, languages: list[str],
                 reranker=None):
        """`reranker` (bot.answer.rerank.CrossEncoderScores): asked only when the calibration reads its score."""
        self.params, self.tuning, self.vectors, self.languages = params, tuning, vectors, languages
        self.reranker = reranker if "cross_encoder" in params.features else None

    def rank(self, store: StoreReader, q: Asked, hits: list[Hit]) -> Ranking:
        if not hits:
            return Ranking([], False)
        x = candidate_features(store, q, hits, self.tuning, self.vectors, self.languages, self.reranker,
                               read=self.params.features)
        p = self.params.probabilities(x)
        for h, pi in zip(hits, p):
            h.score = float(pi)
        ranked = sorted(hits, key=lambda h: -h.score)
        floor = self.tuning.min_probability  # the best is quoted whenever the question is answered
        quotable = ranked[:1] + [h for h in ranked[1:] if h.score >= floor]
        return Ranking(quotable, self.params.answered(x, p) >= self.params.threshold)
