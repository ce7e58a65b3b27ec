"""A personalized preference model that reads a profile and scores two candidates.

The model is a small attention reader, trained across users::

    weight of item j  = softmax over {null, items} of  key(item_j) . key(query)
    taste estimate    = sum_j weight_j * value(item_j)            (the null slot adds 0)
    P(first candidate) = sigmoid((taste estimate + population) . (a - b))

The *null* slot has a learned, query-dependent score. Nothing tells the model which items
are relevant, how much to trust them or what the population prefers: keys, values, the null
score and the population vector are all learned from the training users' choices. With
``relevance=False`` the key ignores the query, so the model cannot weigh an item by how
relevant it is to the question asked (lesson 02's counter-condition).
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from torch import nn
from tqdm.auto import tqdm

from .profiles import Layout, unpack

__all__ = ["PreferenceModel"]


class _Reader(nn.Module):
    def __init__(self, layout: Layout, n_hidden: int, relevance: bool):
        super().__init__()
        self.layout, self.relevance = layout, relevance
        F, Q, D = layout.item_dim, layout.query_dim, layout.n_dims
        self.item_key = nn.Linear(F, n_hidden)
        self.query_key = nn.Linear(Q, n_hidden)
        self.null = nn.Linear(Q, 1)
        self.value = nn.Sequential(nn.Linear(F, n_hidden), nn.Tanh(), nn.Linear(n_hidden, D))
        self.population = nn.Parameter(torch.zeros(D))
        self.scale = n_hidden ** -0.5

    def forward(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B,) and attention weights (B, 1 + K), null slot first."""
        items, query, diff = unpack(X, self.layout)
        present = items[..., 0] > 0
        keys = self.item_key(items)
        if self.relevance:
            score = (keys * self.query_key(query)[:, None]).sum(-1) * self.scale
        else:
            score = keys.sum(-1) * self.scale
        score = score.masked_fill(~present, float("-inf"))
        weights = torch.softmax(torch.cat([self.null(query), score], dim=1), dim=1)
        taste = (weights[:, 1:, None] * self.value(items)).sum(1)
        return ((taste + self.population) * diff).sum(-1), weights


class PreferenceModel(ClassifierMixin, BaseEstimator):
    """Predicts which of two candidates a user picks, from a profile (scikit-learn contract).

    Args:
        layout: the :class:`~course.profiles.Layout` of the rows of ``X``.
        n_hidden: width of keys and of the value network.
        relevance: weigh items by their relevance to the query (see module docstring).
        epochs, batch_size, lr, weight_decay: Adam training settings.
        random_state: seed of initialization and shuffling.
        progress: show a progress bar while training.

    ``X`` is (n, layout.width) from :func:`course.profiles.pack`; ``y`` is (n,) in {0, 1},
    1 when the user picked the first candidate.
    """

    def __init__(self, layout: Layout, n_hidden: int = 32, relevance: bool = True,
                 epochs: int = 20, batch_size: int = 256, lr: float = 0.01,
                 weight_decay: float = 0.0, random_state: int | None = 0,
                 progress: bool = True):
        self.layout = layout
        self.n_hidden = n_hidden
        self.relevance = relevance
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.progress = progress

    def _check_X(self, X) -> torch.Tensor:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.layout.width:
            raise ValueError(f"X must have shape (n, {self.layout.width}) for this layout, "
                             f"got {X.shape}")
        return torch.from_numpy(X)

    def fit(self, X, y) -> "PreferenceModel":
        Xt = self._check_X(X)
        yt = torch.as_tensor(np.asarray(y), dtype=torch.float32)
        if yt.shape != (Xt.shape[0],):
            raise ValueError(f"y must have shape ({Xt.shape[0]},), got {tuple(yt.shape)}")
        self.classes_ = np.array([0, 1])
        torch.manual_seed(0 if self.random_state is None else self.random_state)
        self.net_ = _Reader(self.layout, self.n_hidden, self.relevance)
        opt = torch.optim.Adam(self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        steps = self.epochs * int(np.ceil(len(yt) / self.batch_size))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=steps)
        gen = torch.Generator().manual_seed(0 if self.random_state is None else self.random_state)
        loss_fn = nn.BCEWithLogitsLoss()
        self.net_.train()
        with tqdm(total=steps, desc="training", disable=not self.progress) as bar:
            for _ in range(self.epochs):
                for batch in torch.randperm(len(yt), generator=gen).split(self.batch_size):
                    logits, _ = self.net_(Xt[batch])
                    loss = loss_fn(logits, yt[batch])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    sched.step()
                    bar.update()
                    bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        self.net_.eval()
        return self

    @torch.no_grad()
    def decision_function(self, X) -> np.ndarray:
        """(n,) logits of picking the first candidate."""
        Xt = self._check_X(X)
        return torch.cat([self.net_(b)[0] for b in Xt.split(2048)]).numpy()

    def predict_proba(self, X) -> np.ndarray:
        """(n, 2) probabilities of [second, first] candidate being picked."""
        p = 1.0 / (1.0 + np.exp(-np.clip(self.decision_function(X), -30, 30)))
        return np.stack([1 - p, p], axis=1)

    def predict(self, X) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(int)

    @torch.no_grad()
    def attention(self, X) -> np.ndarray:
        """(n, 1 + K) attention weights, the null slot (no personalization) first."""
        return self.net_(self._check_X(X))[1].numpy()
