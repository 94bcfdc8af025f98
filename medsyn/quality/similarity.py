"""Nearest real note of each synthetic note, at scale (sparse n-gram overlap and LSA embeddings).

    index = NgramIndex(real_texts)
    best, jaccard, containment = index.nearest(synthetic_texts)

n-grams are the same character 5-grams as `score_note` (text lower-cased, letters only): Jaccard of the
two sets, and containment = share of the synthetic note's 5-grams found in the real note.
`EmbeddingIndex` is cosine similarity of LSA embeddings (TF-IDF character n-grams reduced by truncated
SVD, fitted on the real notes only): it sees paraphrase-level closeness that exact 5-grams miss.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from medsyn.quality.text import tokens


def _normalised(texts: Sequence[str]) -> list[str]:
    return [" ".join(tokens(t or "")) for t in texts]


class NgramIndex:
    def __init__(self, texts: Sequence[str], *, n: int = 5) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self._vec = CountVectorizer(analyzer="char", ngram_range=(n, n), binary=True, lowercase=False)
        self._real = self._vec.fit_transform(_normalised(texts)).astype(np.float32).tocsr()
        self._real_len = np.asarray(self._real.sum(axis=1)).ravel()

    def _overlaps(
        self, texts: Sequence[str], chunk: int
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray, float]]:
        """Per text with any shared 5-gram: (its position, the indexed notes sharing some, how many each
        shares, the size of the text's full 5-gram set)."""
        real_t = self._real.T.tocsc()
        analyzer = self._vec.build_analyzer()
        for start in range(0, len(texts), chunk):
            norm = _normalised(texts[start : start + chunk])
            q = self._vec.transform(norm).astype(np.float32).tocsr()
            # Sizes of the full n-gram sets (the vocabulary only holds the indexed notes' n-grams).
            q_len = np.array([len(set(analyzer(t))) for t in norm], dtype=np.float64)
            inter = (q @ real_t).tocsr()
            for i in range(inter.shape[0]):
                lo, hi = inter.indptr[i], inter.indptr[i + 1]
                if lo < hi and q_len[i]:
                    yield start + i, inter.indices[lo:hi], inter.data[lo:hi], float(q_len[i])

    def nearest(
        self, texts: Sequence[str], *, chunk: int = 2048
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(index of the most similar real note or -1, its Jaccard, its containment) per text."""
        n = len(texts)
        best = np.full(n, -1, dtype=np.int64)
        jac = np.zeros(n)
        cont = np.zeros(n)
        for i, cols, shared, q_len in self._overlaps(texts, chunk):
            j = shared / (q_len + self._real_len[cols] - shared)
            k = int(np.argmax(j))
            best[i], jac[i], cont[i] = int(cols[k]), float(j[k]), float(shared[k] / q_len)
        return best, jac, cont

    def max_containment(self, texts: Sequence[str], *, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
        """(index of the indexed note holding the largest share of the text's 5-grams or -1, that share)
        per text: a copy of any part of any indexed note shows, whatever the rest of that note says."""
        best = np.full(len(texts), -1, dtype=np.int64)
        cont = np.zeros(len(texts))
        for i, cols, shared, q_len in self._overlaps(texts, chunk):
            k = int(np.argmax(shared))
            best[i], cont[i] = int(cols[k]), float(shared[k] / q_len)
        return best, cont


class EmbeddingIndex:
    def __init__(self, texts: Sequence[str], *, dims: int = 128, seed: int = 0) -> None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._tfidf = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
        x = self._tfidf.fit_transform(_normalised(texts))
        dims = max(1, min(dims, x.shape[1] - 1, x.shape[0] - 1))
        self._svd = TruncatedSVD(n_components=dims, random_state=seed)
        self._real = self._unit(self._svd.fit_transform(x))

    @staticmethod
    def _unit(x: np.ndarray) -> np.ndarray:
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(norm == 0, 1.0, norm)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._unit(self._svd.transform(self._tfidf.transform(_normalised(texts))))

    def nearest(self, texts: Sequence[str], *, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """(index of the closest real note, its cosine similarity) per text."""
        best = np.zeros(len(texts), dtype=np.int64)
        sim = np.zeros(len(texts))
        for start in range(0, len(texts), chunk):
            s = self.embed(texts[start : start + chunk]) @ self._real.T
            best[start : start + len(s)] = s.argmax(axis=1)
            sim[start : start + len(s)] = s.max(axis=1)
        return best, sim


def near_duplicates(
    texts: Sequence[str], *, threshold: float = 0.8, num_perm: int = 64, seed: int = 1
) -> list[int]:
    """Indices of texts that near-duplicate an earlier text (MinHash LSH on character 5-grams).

    The first text of each group is kept; a later one is a duplicate when its estimated Jaccard with a
    kept text is >= `threshold`.
    """
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    dups: list[int] = []
    for i, text in enumerate(_normalised(texts)):
        grams = {text[k : k + 5] for k in range(max(1, len(text) - 4))}
        m = MinHash(num_perm=num_perm, seed=seed)
        m.update_batch([g.encode("utf-8") for g in grams])
        if lsh.query(m):
            dups.append(i)
        else:
            lsh.insert(str(i), m)
    return dups
