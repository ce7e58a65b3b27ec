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

from .profiles import Episodes, Layout

__all__ = ["PreferenceModel"]


class _Reader(nn.Module):
    def __init__(self, layout: Layout, n_hidden: int, relevance: bool):
        super().__init__()
        self.relevance = relevance
        F, Q, D = layout.item_dim, layout.query_dim, layout.n_dims
        self.item_key = nn.Linear(F, n_hidden)
        self.query_key = nn.Linear(Q, n_hidden)
        self.null = nn.Linear(Q, 1)
        self.value = nn.Sequential(nn.Linear(F, n_hidden), nn.Tanh(), nn.Linear(n_hidden, D))
        self.population = nn.Parameter(torch.zeros(D))
        self.scale = n_hidden ** -0.5

    def encode(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keys (P, K, H), values (P, K, D) and presence (P, K) of P profiles' items."""
        return self.item_key(items), self.value(items), items[..., 0] > 0

    def read(self, encoded, query: torch.Tensor,
             diff: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, M) and attention weights (B, M, 1 + K), null slot first, for B encoded
        profiles each read for M queries."""
        keys, values, present = encoded
        if self.relevance:
            score = torch.einsum("bmh,bkh->bmk", self.query_key(query), keys) * self.scale
        else:
            score = (keys.sum(-1) * self.scale)[:, None].expand(-1, query.shape[1], -1)
        score = score.masked_fill(~present[:, None], float("-inf"))
        weights = torch.softmax(torch.cat([self.null(query), score], dim=2), dim=2)
        taste = torch.einsum("bmk,bkd->bmd", weights[..., 1:], values)
        return ((taste + self.population) * diff).sum(-1), weights


class PreferenceModel(ClassifierMixin, BaseEstimator):
    """Predicts which of two candidates a user picks, from a profile (scikit-learn contract).

    Args:
        layout: the :class:`~course.profiles.Layout` of the episodes.
        n_hidden: width of keys and of the value network.
        relevance: weigh items by their relevance to the query (see module docstring).
        epochs, lr, weight_decay: Adam training settings (one-cycle learning rate, peak ``lr``).
        batch_size: examples (profile, query pairs) per training step, about. The model is
            small, so a step costs mostly the overhead of each operation: ~100 profiles a step
            train to the accuracy of 25 a step at three times the speed (peak lr 0.04, not 0.01).
        random_state: seed of initialization and shuffling.
        progress: show a progress bar while training.

    ``X`` is an :class:`~course.profiles.Episodes` of n examples (from
    :func:`course.profiles.examples`); ``y`` is (n,) in {0, 1}, 1 when the user picked the
    first candidate, in the episodes' profile-major order.
    """

    def __init__(self, layout: Layout, n_hidden: int = 32, relevance: bool = True,
                 epochs: int = 20, batch_size: int = 1024, lr: float = 0.04,
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

    def _tensors(self, X: Episodes) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not isinstance(X, Episodes):
            raise TypeError(f"X must be course.profiles.Episodes (see profiles.examples), "
                            f"got {type(X).__name__}")
        L = self.layout
        if (X.items.shape[2], X.query.shape[2], X.diff.shape[2]) != (L.item_dim, L.query_dim, L.n_dims):
            raise ValueError(f"X does not fit this layout: items, query and diff must end with "
                             f"{L.item_dim}, {L.query_dim} and {L.n_dims} numbers, got "
                             f"{X.items.shape}, {X.query.shape}, {X.diff.shape}")
        return tuple(torch.as_tensor(np.asarray(a, dtype=np.float32))
                     for a in (X.items, X.query, X.diff))

    def fit(self, X: Episodes, y) -> "PreferenceModel":
        items, query, diff = self._tensors(X)
        if X.profile is not None:
            items = items[torch.as_tensor(X.profile)]
        y = np.asarray(y)
        if y.shape != (len(X),):
            raise ValueError(f"y must have shape ({len(X)},), got {y.shape}")
        yt = torch.as_tensor(y, dtype=torch.float32).reshape(query.shape[:2])
        self.classes_ = np.array([0, 1])
        seed = 0 if self.random_state is None else self.random_state
        torch.manual_seed(seed)
        self.net_ = _Reader(self.layout, self.n_hidden, self.relevance)
        opt = torch.optim.Adam(self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay,
                               fused=True)  # one kernel for all parameters
        per_step = max(1, self.batch_size // X.n_queries)  # profiles per step
        steps = self.epochs * int(np.ceil(len(yt) / per_step))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=steps)
        gen = torch.Generator().manual_seed(seed)
        loss_fn = nn.BCEWithLogitsLoss()
        self.net_.train()
        with tqdm(total=steps, desc="training", disable=not self.progress) as bar:
            for _ in range(self.epochs):
                for batch in torch.randperm(len(yt), generator=gen).split(per_step):
                    logits, _ = self.net_.read(self.net_.encode(items[batch]), query[batch],
                                               diff[batch])
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
    def _forward(self, X: Episodes) -> tuple[torch.Tensor, torch.Tensor]:
        items, query, diff = self._tensors(X)
        encoded = self.net_.encode(items)  # each profile once, however many groups read it
        groups = torch.arange(len(query))
        profile = groups if X.profile is None else torch.as_tensor(X.profile)
        parts = [self.net_.read(tuple(e[profile[g]] for e in encoded), query[g], diff[g])
                 for g in groups.split(4096)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def decision_function(self, X: Episodes) -> np.ndarray:
        """(n,) logits of picking the first candidate."""
        return self._forward(X)[0].reshape(-1).numpy()

    def predict_proba(self, X: Episodes) -> np.ndarray:
        """(n, 2) probabilities of [second, first] candidate being picked."""
        p = 1.0 / (1.0 + np.exp(-np.clip(self.decision_function(X), -30, 30)))
        return np.stack([1 - p, p], axis=1)

    def predict(self, X: Episodes) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(int)

    def attention(self, X: Episodes) -> np.ndarray:
        """(n, 1 + K) attention weights, the null slot (no personalization) first."""
        weights = self._forward(X)[1]
        return weights.reshape(-1, weights.shape[-1]).numpy()
