import numpy as np

from medforget.images.neardup import MAX_DISTANCE, PhashIndex, hamming, hash_matrix, near_duplicates


def random_hashes(rng: np.random.Generator, n: int) -> list[str]:
    return [rng.bytes(32).hex() for _ in range(n)]


def flip(hex_hash: str, bits: list[int]) -> str:
    value = bytearray(bytes.fromhex(hex_hash))
    for bit in bits:
        value[bit // 8] ^= 1 << (bit % 8)
    return value.hex()


def test_index_finds_exactly_the_pairs_brute_force_finds():
    rng = np.random.default_rng(0)
    entries = random_hashes(rng, 300)
    queries = [
        flip(entries[i], rng.choice(256, size=d, replace=False).tolist()) for i, d in zip(range(0, 300, 3), range(40))
    ] + random_hashes(rng, 50)
    e, q = hash_matrix(entries), hash_matrix(queries)
    rows, cols = PhashIndex(e).query(q)
    brute = {
        (i, j)
        for i in range(len(queries))
        for j in range(len(entries))
        if hamming(q[i : i + 1], e[j : j + 1])[0] <= MAX_DISTANCE
    }
    assert set(zip(rows.tolist(), cols.tolist())) == brute
    assert len(brute) == MAX_DISTANCE + 1  # the flips of 0..15 bits, nothing random


def test_near_duplicates_prefers_exact_and_confirms_on_pixels():
    rng = np.random.default_rng(1)
    hashes = dict(enumerate(random_hashes(rng, 4)))
    hashes[10] = flip(hashes[0], [3, 77])  # a close hash, no pixels: the hash match stands
    found = near_duplicates([0, 1], [1, 2, 10], hashes.get, lambda key: None)
    assert found == {1: 1, 10: 0}
