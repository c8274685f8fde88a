"""The simulation matches its specification: composition, copy counts, layout, instances, splits."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from _data_sim_util import brute_log_odds, small_simulation
from scipy import stats

from data_sim.motifs import builtin_motifs, with_pseudocount
from data_sim.simulate import (
    PAPER_CLASSES,
    ClassSpec,
    SimulationConfig,
    config_from_mapping,
    simulate,
    truncated_poisson,
)
from deeplift_genomics.core.errors import InputError

MOTIFS = builtin_motifs(["GATA_disc1", "TAL1_known1"])


@pytest.fixture(scope="module")
def sim():
    return small_simulation()


def test_shapes_ids_and_labels(sim):
    n = 500
    assert len(sim.ids) == len(sim.sequences) == 4 * n
    assert sim.ids[:5] == ["both_0", "gata_0", "tal1_0", "neither_0", "both_1"]
    assert len(set(sim.ids)) == len(sim.ids)
    assert all(len(s) == 200 and set(s) <= set("ACGT") for s in sim.sequences)
    expected = {"both": (1, 1, 1), "gata": (0, 1, 0), "tal1": (0, 0, 1), "neither": (0, 0, 0)}
    for cls, row, name in zip(sim.classes, sim.labels, sim.ids):
        assert name.startswith(cls + "_")
        assert tuple(row) == expected[cls]
    assert Counter(sim.classes) == {c: n for c in expected}


def test_background_composition_of_non_motif_positions(sim):
    covered = {name: np.zeros(200, dtype=bool) for name in sim.ids}
    for r in sim.embeddings.itertuples():
        covered[r.id][r.start : r.end] = True
    counts = Counter()
    for name, seq in zip(sim.ids, sim.sequences):
        counts.update(b for b, c in zip(seq, covered[name]) if not c)
    observed = np.array([counts[b] for b in "ACGT"], dtype=float)
    expected = np.array([0.3, 0.2, 0.2, 0.3]) * observed.sum()
    assert np.abs(observed / observed.sum() - [0.3, 0.2, 0.2, 0.3]).max() < 0.005
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def _truncated_poisson_pmf(lam: float) -> np.ndarray:
    w = np.array([lam**k / math.factorial(k) for k in (1, 2, 3)])
    return w / w.sum()


@pytest.mark.parametrize(
    "cls, motif, lam",
    [
        ("both", "GATA_disc1", 1.0),
        ("both", "TAL1_known1", 1.0),
        ("gata", "GATA_disc1", 2.0),
        ("tal1", "TAL1_known1", 2.0),
    ],
)
def test_copy_counts_follow_the_truncated_poisson(sim, cls, motif, lam):
    ids = [i for i, c in zip(sim.ids, sim.classes) if c == cls]
    emb = sim.embeddings[sim.embeddings["motif"] == motif]
    per_seq = Counter(emb["id"])
    counts = np.array([per_seq.get(i, 0) for i in ids])
    observed = np.array([(counts == k).sum() for k in (1, 2, 3)])
    assert observed.sum() == len(ids)  # every sequence of the class has 1 to 3 copies
    assert stats.chisquare(observed, _truncated_poisson_pmf(lam) * len(ids)).pvalue > 1e-3


def test_classes_hold_only_their_motifs(sim):
    motifs_of = sim.embeddings.groupby("id")["motif"].apply(set).to_dict()
    wanted = {"both": {"GATA_disc1", "TAL1_known1"}, "gata": {"GATA_disc1"}, "tal1": {"TAL1_known1"}}
    for name, cls in zip(sim.ids, sim.classes):
        assert motifs_of.get(name, set()) == wanted.get(cls, set())


def test_no_overlaps_and_gata_before_tal1(sim):
    for name, group in sim.embeddings.groupby("id", sort=False):
        spans = sorted(zip(group["start"], group["end"]))
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])), name
        order = list(group["motif"])
        assert order == sorted(order, key=lambda m: m != "GATA_disc1")  # GATA copies placed first


def test_every_embedded_string_is_in_its_sequence_with_its_log_odds(sim):
    seq_of = dict(zip(sim.ids, sim.sequences))
    emb = sim.embeddings
    assert set(emb["strand"]) == {"+"}
    for r in emb.sample(n=400, random_state=0).itertuples():
        assert seq_of[r.id][r.start : r.end] == r.string
        assert r.end - r.start == MOTIFS[r.motif].width
        expected = brute_log_odds(r.string, MOTIFS[r.motif].probs, (0.3, 0.2, 0.2, 0.3), 1e-3)
        assert r.log_odds == pytest.approx(expected, abs=1e-9)
    assert (emb["start"] >= 0).all() and (emb["end"] <= 200).all()


def test_start_positions_cover_the_sequence(sim):
    starts = sim.embeddings.loc[sim.embeddings["motif"] == "TAL1_known1", "start"]
    assert starts.min() == 0 and starts.max() == 200 - 16
    # Uniform over the free starts gives roughly flat coverage: compare thirds of the range.
    thirds = np.histogram(starts, bins=3, range=(0, 185))[0]
    assert thirds.min() > 0.8 * thirds.mean()


@pytest.mark.parametrize("name", ["GATA_disc1", "TAL1_known1"])
def test_instance_base_frequencies_match_the_pwm(sim, name):
    strings = sim.embeddings.loc[sim.embeddings["motif"] == name, "string"]
    arr = np.array([list(s) for s in strings])
    freq = np.stack([(arr == b).mean(axis=0) for b in "ACGT"], axis=1)  # (W, 4)
    expected = with_pseudocount(MOTIFS[name].probs, 1e-4)
    sd = np.sqrt(expected * (1 - expected) / len(arr))
    assert np.all(np.abs(freq - expected) <= 5 * sd + 1e-3)


def test_splits_are_stratified_ten_percent(sim):
    table = Counter(zip(sim.classes, sim.split))
    for cls in ("both", "gata", "tal1", "neither"):
        assert table[cls, "test"] == 50 and table[cls, "valid"] == 50 and table[cls, "train"] == 400


def test_same_seed_same_data_other_seed_other_data():
    a = simulate(SimulationConfig(seed=5, n_per_class=20))
    b = simulate(SimulationConfig(seed=5, n_per_class=20))
    c = simulate(SimulationConfig(seed=6, n_per_class=20))
    assert a.sequences == b.sequences and a.embeddings.equals(b.embeddings) and (a.split == b.split).all()
    assert a.sequences != c.sequences


def test_reverse_complement_option_places_minus_strand_copies():
    sim = small_simulation(n_per_class=100, seed=3, reverse_complement=0.5)
    emb = sim.embeddings
    share = (emb["strand"] == "-").mean()
    assert 0.4 < share < 0.6
    seq_of = dict(zip(sim.ids, sim.sequences))
    comp = str.maketrans("ACGT", "TGCA")
    for r in emb[emb["strand"] == "-"].head(50).itertuples():
        assert seq_of[r.id][r.start : r.end] == r.string
        forward_instance = r.string.translate(comp)[::-1]
        expected = brute_log_odds(r.string, MOTIFS[r.motif].probs, (0.3, 0.2, 0.2, 0.3), 1e-3, strand="-")
        assert r.log_odds == pytest.approx(expected, abs=1e-9)
        # The forward-read instance is a plausible motif instance: it matches the consensus at GATA's core.
        if r.motif == "GATA_disc1":
            assert forward_instance[3:6] == "GAT"


def test_truncated_poisson_stays_in_range_and_refuses_hopeless_lambdas():
    rng = np.random.default_rng(0)
    draws = truncated_poisson(rng, 0.3, 1, 3, 5000)
    assert draws.min() >= 1 and draws.max() <= 3
    with pytest.raises(InputError, match="mass"):
        truncated_poisson(rng, 1e-4, 3, 3, 10)


def test_impossible_layout_is_refused_up_front():
    with pytest.raises(InputError, match=r"impossible layout: class 'both' may need 78 bp"):
        simulate(SimulationConfig(length=60, n_per_class=5))


def test_fragmented_layout_stops_with_a_clear_error():
    # Exactly 3 copies x 10 bp in 30 bp pass the up-front check, but random starts rarely tile exactly.
    config = SimulationConfig(
        length=30,
        n_per_class=50,
        min_copies=3,
        classes=(ClassSpec("g", (("GATA_disc1", 3.0),), (1,)),),
        task_names=("g",),
        max_layout_attempts=3,
    )
    with pytest.raises(InputError, match=r"impossible layout: class 'g' sequence \d+.*after 3 attempts"):
        simulate(config)


def test_unknown_motif_and_bad_settings_are_input_errors():
    bad_class = (ClassSpec("x", (("NOPE_motif", 1.0),), (1, 0, 0)),)
    with pytest.raises(InputError, match="NOPE_motif"):
        simulate(SimulationConfig(classes=bad_class, n_per_class=2))
    with pytest.raises(InputError, match="sum to 1"):
        simulate(SimulationConfig(background=(0.5, 0.5, 0.5, 0.5), n_per_class=2))
    with pytest.raises(InputError, match="3 labels for 2 tasks"):
        simulate(SimulationConfig(task_names=("a", "b"), n_per_class=2))
    with pytest.raises(InputError, match="unknown key"):
        config_from_mapping({"n_per_clas": 3})


def test_config_from_mapping_reads_classes_and_presets():
    config = config_from_mapping(
        {
            "background_preset": "released",
            "classes": [{"name": "pair", "motifs": {"GATA_disc1": 1.5}, "labels": [1]}],
            "task_names": ["pair"],
            "n_per_class": 7,
        }
    )
    assert config.background == (0.27, 0.23, 0.23, 0.27)
    assert config.classes == (ClassSpec("pair", (("GATA_disc1", 1.5),), (1.0,)),)
    data = simulate(config)
    assert data.ids == [f"pair_{k}" for k in range(7)]
    assert SimulationConfig().classes == PAPER_CLASSES
