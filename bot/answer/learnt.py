"""A learnt ranking stage: logistic regression over candidate features (bot/answer/features.py).

Its parameters are data, fitted on questions with gold quotes by `onrecord calibrate` and tied to
the embedding model that produced the cosines they were fitted on:

    {"model": "<embedder name>", "features": [...], "mean": [...], "scale": [...],
     "coef": [...], "intercept": x, "threshold": p, "fitted_on": {...}}

A candidate's score is the probability that it holds the answer; the question is answered when the
best candidate's probability reaches `threshold` (chosen on the fitting questions for precision).
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
from .rank import Ranking
from .vectors import QuestionVectors

CALIBRATION_DIR = Path(__file__).with_name("calibration")  # shipped calibrations, one file per model


@dataclass
class RankerParams:
    model: str
    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    threshold: float
    fitted_on: dict = field(default_factory=dict)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0)
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.coef) + self.intercept)))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "RankerParams":
        data = json.loads(path.read_text(encoding="utf-8"))
        params = cls(**data)
        if list(params.features) != list(FEATURES):
            raise ValueError(f"{path} was fitted on other features ({params.features}); run `onrecord calibrate` again")
        return params


def calibration_file(model_name: str, folder: Path = CALIBRATION_DIR) -> Path:
    """Where the calibration of a model lives: its name made safe as a file name."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_name.split(":")[0].split("/")[-1])
    return folder / f"{safe}.json"


def fit(x: np.ndarray, y: np.ndarray, question_of: np.ndarray, answerable: dict[int, bool], model: str,
        max_declined: float = 0.03, c: float = 1.0) -> RankerParams:
    """Fit the candidate model, then the answer threshold: the highest that declines at most
    `max_declined` of the answerable fitting questions (their best candidate's probability)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    lr = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit((x - scaler.mean_) / scale, y)
    params = RankerParams(model, list(FEATURES), scaler.mean_.tolist(), scale.tolist(), lr.coef_[0].tolist(),
                          float(lr.intercept_[0]), 0.5)
    p = params.probabilities(x)
    best = {}
    for qi, pi in zip(question_of, p):
        best[int(qi)] = max(best.get(int(qi), 0.0), float(pi))
    for qi in answerable:
        best.setdefault(qi, 0.0)
    ans = sorted(best[q] for q, a in answerable.items() if a)
    if ans:
        k = int(np.floor(max_declined * len(ans)))
        params.threshold = float(ans[k]) - 1e-9 if k < len(ans) else 0.0
    return params


class LearntRanker:
    def __init__(self, params: RankerParams, tuning: AnswerSettings, vectors: QuestionVectors, languages: list[str]):
        self.params, self.tuning, self.vectors, self.languages = params, tuning, vectors, languages

    def rank(self, store: StoreReader, q: Asked, hits: list[Hit]) -> Ranking:
        if not hits:
            return Ranking([], False)
        x = candidate_features(store, q, hits, self.tuning, self.vectors, self.languages)
        p = self.params.probabilities(x)
        for h, pi in zip(hits, p):
            h.score = float(pi)
        ranked = sorted(hits, key=lambda h: -h.score)
        return Ranking(ranked, ranked[0].score >= self.params.threshold)
