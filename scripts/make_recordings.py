"""Write small synthetic recordings and activation stores with the real Python libraries
(pynwb, h5py, zarr), and the values repspace's readers and ingest must produce from them,
computed independently with numpy.

    PY=$(bash scripts/python_env.sh)
    $PY scripts/make_recordings.py nwb    OUTDIR [--seed 0]
    $PY scripts/make_recordings.py ophys  OUTDIR [--seed 0]
    $PY scripts/make_recordings.py stores OUTDIR [--seed 0]

Made with pynwb 4.2.0, hdmf 6.2.0, h5py 3.16.0, zarr 3.1.6, numcodecs 0.16.6, numpy 2.4.6
(Python 3.11).

nwb: OUTDIR/sessions/{a,b}.nwb in the Allen Brain Observatory Visual Coding - Neuropixels
layout (session_id = identifier, differing from the file name; units with spike_times,
peak_channel_id, quality, isi_violations, amplitude_cutoff, presence_ratio; the electrodes
table with ids = channel ids and its `location`; /intervals/natural_scenes_presentations
with a float64 `frame` column, -1.0 the blank). Session a has 3 presentations of every
frame (a trials tensor is expected), session b unequal repeats (none). Units sit exactly at
each filter bound (kept), on channels with location "" and "None" (dropped), and one area
(CA1) keeps fewer than min_units; VISl keeps exactly min_units. Spikes sit exactly at
start + 0.05 (counted) and start + 0.30 (not counted), computed as float64 sums (presentations
are 0.25 s apart, so start + 0.30 equals the next start + 0.05 and counts there). Session b
holds > 65535 spikes (busy units on "None" channels), so its spike_times_index is uint32;
session a's is uint16 (hdmf picks the narrowest unsigned type).
OUTDIR/bad/no_stimulus.nwb lacks the interval table; OUTDIR/bad/not_hdf5.nwb is garbage.

ophys: OUTDIR/sessions/c.nwb in the Allen Visual Coding two-photon layout (ImagingPlane
location "VISp"; processing/ophys/DfOverF/RoiResponseSeries, float32 [time, rois], 30 Hz
timestamps k/30; rois a region over a PlaneSegmentation whose ids are shuffled).

Both write OUTDIR/expected/: config.toml (the [ingest] config, sessions relative to
OUTDIR), manifest.json (the expected manifest rows) and the expected arrays (.npy, float64).
Responses are [conditions, units] (conditions = distinct frames but -1, ascending; units
sorted by id) and, when every condition has r presentations, [conditions, r, units] in
start_time order. A presentation's window is start + w0 <= t < start + w1 in float64.

stores: the same arrays as npy/<name>.npy, in acts.h5 (gzip + shuffle, chunks=True) at
/blocks/<i>/out, in the Zarr v3 group acts_v3.zarr (zarr-python's default zstd) and the Zarr
v2 group acts_v2.zarr (Blosc) at blocks/<i>/out (zarr chunks split each array, with partial
edge chunks); a big-endian float64 dataset /be/out in acts.h5 paired with npy/be_f64.npy.
OUTDIR/stores.csv lists every (array, format) as model_id <name>_<fmt>, layer <name>;
OUTDIR/bad.csv lists rows that must fail: a dataset missing from an HDF5 file, an array
path missing from a Zarr store (both in OUTDIR/bad/), and the 1-D dataset /blocks/1d.
"""
import argparse
import csv
import json
import os
import shutil
from datetime import datetime, timezone

import numpy as np

# ---------------------------------------------------------------------------------------
# Shared: presentations and the expected responses


FRAMES = 6  # natural scenes 0..5, plus the blank -1
BLANK = -1.0
START0 = 10.0  # first presentation; every start is START0 + 0.25 * i (exact in float64)
SPACING = 0.25  # back to back, as Allen's natural scenes (so windows overlap the next one)


def presentations(rng, repeats, blanks):
    """(start, stop, frame) rows in start_time order: frame k shown repeats[k] times and the
    blank `blanks` times, in a random order of conditions."""
    frames = [float(k) for k in range(len(repeats)) for _ in range(repeats[k])] + [BLANK] * blanks
    frames = [frames[i] for i in rng.permutation(len(frames))]
    starts = START0 + SPACING * np.arange(len(frames))
    return starts, starts + SPACING, np.array(frames, dtype=np.float64)


def conditions_of(frames, exclude):
    return sorted(set(frames.tolist()) - set(exclude))


def responses(per_presentation, frames, exclude):
    """per_presentation: [presentations, units] in start_time order. Returns (mean
    [conditions, units], trials [conditions, r, units] or None, conditions)."""
    conds = conditions_of(frames, exclude)
    mean = np.stack([per_presentation[frames == c].mean(axis=0) for c in conds])
    counts = {int((frames == c).sum()) for c in conds}
    trials = None
    if len(counts) == 1:
        trials = np.stack([per_presentation[frames == c] for c in conds]).astype(np.float64)
    return mean.astype(np.float64), trials, conds


def write_expected(out, rows_arrays, config):
    exp = os.path.join(out, "expected")
    os.makedirs(exp, exist_ok=True)
    rows = []
    for row, array in rows_arrays:
        np.save(os.path.join(exp, row["file"]), array)
        rows.append(row)
    rows.sort(key=lambda r: (r["session_id"], r["area"], r["layer"]))
    with open(os.path.join(exp, "manifest.json"), "w") as f:
        json.dump(rows, f, indent=1)
    with open(os.path.join(exp, "config.toml"), "w") as f:
        f.write(config)


def expected_rows(session_id, area, mean, trials, subject):
    base = {
        "model_id": f"{session_id}_{area}",
        "session_id": session_id,
        "area": area,
        "n_units": int(mean.shape[1]),
        "n_conditions": int(mean.shape[0]),
        "n_repeats": None if trials is None else int(trials.shape[1]),
        **subject,
    }
    out = [({**base, "layer": area, "file": f"{session_id}_{area}.npy"}, mean)]
    if trials is not None:
        out.append(({**base, "layer": f"{area}_trials", "file": f"{session_id}_{area}_trials.npy"}, trials))
    return out


def subject_fields(s):
    return {
        "subject_id": s.get("subject_id"),
        "genotype": s.get("genotype"),
        "sex": s.get("sex"),
        "age": s.get("age"),
    }


def new_nwbfile(session_id, subject):
    from pynwb import NWBFile
    from pynwb.file import Subject

    nwb = NWBFile(
        session_description="synthetic recording in the Allen Brain Observatory layout",
        identifier=session_id,
        session_start_time=datetime(2019, 1, 19, 8, 54, 18, tzinfo=timezone.utc),
        session_id=session_id,
        institution="Allen Institute for Brain Science",
    )
    if subject is not None:
        nwb.subject = Subject(**subject)
    return nwb


def add_stimulus_table(nwb, starts, stops, frames):
    from pynwb.epoch import TimeIntervals

    table = TimeIntervals(name="natural_scenes_presentations", description="natural scenes presentations")
    table.add_column(name="frame", description="the natural scene shown; -1 is the blank")
    table.add_column(name="stimulus_name", description="the stimulus")
    for s, e, fr in zip(starts, stops, frames):
        table.add_interval(start_time=float(s), stop_time=float(e), frame=float(fr), stimulus_name="natural_scenes")
    nwb.add_time_intervals(table)


def write_nwb(nwb, path):
    from pynwb import NWBHDF5IO

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with NWBHDF5IO(path, "w") as io:
        io.write(nwb)


# ---------------------------------------------------------------------------------------
# nwb: Neuropixels units

W0, W1 = 0.05, 0.30
ISI_MAX, AMP_MAX, PRESENCE_MIN = 0.5, 0.1, 0.9
MIN_UNITS = 10

NWB_CONFIG = """[ingest]
kind = "nwb_units"
sessions = ["sessions/*.nwb"]
out = "zoo"
stimulus = "natural_scenes"
condition = "frame"
window = [0.05, 0.30]
exclude_conditions = [-1]
group_by = "location"
min_units = 10
[ingest.unit_filter]
isi_violations_max = 0.5
amplitude_cutoff_max = 0.1
presence_ratio_min = 0.9
"""


def unit_specs(rng, areas):
    """Units as dicts (area, quality, isi_violations, amplitude_cutoff, presence_ratio).
    areas: {area: (kept, dropped)}; the dropped ones fail one filter each, in turn; the kept
    ones include one unit exactly at each bound."""
    units = []
    for area, (kept, dropped) in areas.items():
        for i in range(kept):
            u = dict(area=area, quality="good", isi_violations=float(rng.uniform(0, 0.4)),
                     amplitude_cutoff=float(rng.uniform(0, 0.09)), presence_ratio=float(rng.uniform(0.92, 1.0)))
            if i == 0:
                u["isi_violations"] = ISI_MAX
            if i == 1:
                u["amplitude_cutoff"] = AMP_MAX
            if i == 2:
                u["presence_ratio"] = PRESENCE_MIN
            if i == 3:
                u.update(isi_violations=ISI_MAX, amplitude_cutoff=AMP_MAX, presence_ratio=PRESENCE_MIN)
            units.append(u)
        for i in range(dropped):
            u = dict(area=area, quality="good", isi_violations=float(rng.uniform(0, 0.4)),
                     amplitude_cutoff=float(rng.uniform(0, 0.09)), presence_ratio=float(rng.uniform(0.92, 1.0)))
            which = i % 4
            if which == 0:
                u["quality"] = "noise"
            elif which == 1:
                u["isi_violations"] = float(np.nextafter(ISI_MAX, 1.0)) if i < 4 else 2.7
            elif which == 2:
                u["amplitude_cutoff"] = float(np.nextafter(AMP_MAX, 1.0)) if i < 4 else 0.5
            else:
                u["presence_ratio"] = float(np.nextafter(PRESENCE_MIN, 0.0)) if i < 4 else 0.3
            units.append(u)
    return units


def spike_train(rng, starts, frames, tuning, t_end, background=4.0):
    """Background Poisson spikes plus condition-tuned spikes after each onset, plus edge
    spikes exactly at start + W0 (counted) and start + W1 (not counted) of some presentations."""
    bg = np.sort(rng.uniform(0.0, t_end, rng.poisson(background * t_end)))
    extra = []
    for s, fr in zip(starts, frames):
        rate = tuning[int(fr)] if fr >= 0 else 2.0
        extra.append(s + rng.uniform(0.0, 0.35, rng.poisson(rate * 0.35)))
        u = rng.random()
        if u < 0.3:
            extra.append(np.array([s + W0]))
        elif u < 0.6:
            extra.append(np.array([s + W1]))
        elif u < 0.75:
            extra.append(np.array([s + W0, s + W1]))
    t = np.concatenate([bg] + extra)
    return np.sort(t).astype(np.float64)


def count(spikes, starts):
    """Spike counts of one unit per presentation: start + W0 <= t < start + W1 in float64."""
    return np.array([np.count_nonzero((spikes >= s + W0) & (spikes < s + W1)) for s in starts], dtype=np.float64)


def make_session(rng, path, session_id, subject, repeats, blanks, areas, with_stimulus=True, busy=0.0):
    """busy: background rate (Hz) of the units on "None" channels; high enough, the file holds
    more than 65535 spikes and hdmf widens `spike_times_index` from uint16 to uint32."""

    nwb = new_nwbfile(session_id, subject)
    starts, stops, frames = presentations(rng, repeats, blanks)
    t_end = float(stops[-1] + 2.0)

    # Electrodes: 3 channels per location, ids 850000000 + k, added in shuffled order.
    device = nwb.create_device(name="probeA", description="Neuropixels 1.0", manufacturer="imec")
    group = nwb.create_electrode_group(name="probeA", description="Neuropixels probe", location="See electrode locations",
                                       device=device)
    nwb.add_electrode_column(name="probe_vertical_position", description="vertical position on the probe (um)")
    locations = list(areas) + ["", "None"]
    channels = {}
    ids = 850000000 + rng.permutation(3 * len(locations)) * 7 + 3
    k = 0
    for loc in locations:
        channels[loc] = []
        for _ in range(3):
            channels[loc].append(int(ids[k]))
            k += 1
    order = rng.permutation(k)
    flat = [(loc, ch) for loc in locations for ch in channels[loc]]
    for i in order:
        loc, ch = flat[i]
        row = dict(id=ch, group=group, location=loc, x=0.0, y=0.0, z=0.0, imp=np.nan, filtering="none",
                   probe_vertical_position=int(rng.integers(0, 3840)))
        if loc:
            nwb.add_electrode(**row)
        else:  # pynwb's add_electrode refuses an empty location; the table itself takes it
            nwb.electrodes.add_row(group_name=group.name, **row)

    # Units: the areas' units, plus 2 on "" channels and 2 on "None" channels (kept by every
    # filter, dropped by their location).
    specs = unit_specs(rng, areas)
    for loc in ["", "None"]:
        for _ in range(2):
            specs.append(dict(area=loc, quality="good", isi_violations=0.1, amplitude_cutoff=0.01, presence_ratio=0.99))
    unit_ids = rng.choice(np.arange(950000000, 950100000), size=len(specs), replace=False)
    for col, desc in [("peak_channel_id", "the channel with the largest waveform"), ("quality", "good or noise"),
                      ("isi_violations", "ISI violations"), ("amplitude_cutoff", "amplitude cutoff"),
                      ("presence_ratio", "presence ratio")]:
        nwb.add_unit_column(name=col, description=desc)
    trains = {}
    for uid, u in zip(unit_ids, specs):
        tuning = rng.uniform(1.0, 40.0, FRAMES)
        spikes = spike_train(rng, starts, frames, tuning, t_end, busy if (busy and u["area"] == "None") else 4.0)
        trains[int(uid)] = (u, spikes)
        ch = channels[u["area"]][int(rng.integers(0, 3))]
        nwb.add_unit(id=int(uid), spike_times=spikes, peak_channel_id=ch, quality=u["quality"],
                     isi_violations=u["isi_violations"], amplitude_cutoff=u["amplitude_cutoff"],
                     presence_ratio=u["presence_ratio"])
    if with_stimulus:
        add_stimulus_table(nwb, starts, stops, frames)
    write_nwb(nwb, path)

    # Expected, from the specs (not read back from the file).
    out = []
    for area in sorted(areas):
        kept = sorted(uid for uid, (u, _) in trains.items()
                      if u["area"] == area and u["quality"] == "good" and u["isi_violations"] <= ISI_MAX
                      and u["amplitude_cutoff"] <= AMP_MAX and u["presence_ratio"] >= PRESENCE_MIN)
        if len(kept) < MIN_UNITS:
            continue
        per = np.stack([count(trains[uid][1], starts) for uid in kept], axis=1)  # [presentations, units]
        mean, trials, _ = responses(per, frames, [BLANK])
        out += expected_rows(session_id, area, mean, trials, subject_fields(subject or {}))
    return out


def cmd_nwb(out, seed):
    rng = np.random.default_rng(seed)
    rows = []
    # Session a: equal repeats (3), VISp and LGd keep 12 (equal widths, for the stochastic
    # metrics), VISl exactly 10, CA1 8 (skipped).
    rows += make_session(
        rng, os.path.join(out, "sessions", "a.nwb"), "715093703",
        dict(subject_id="730756767", genotype="Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt", sex="M",
             age="P100D", species="Mus musculus", description="synthetic mouse"),
        repeats=[3] * FRAMES, blanks=3, areas={"VISp": (12, 5), "VISl": (10, 4), "LGd": (12, 2), "CA1": (8, 3)},
    )
    # Session b: unequal repeats, no genotype.
    rows += make_session(
        rng, os.path.join(out, "sessions", "b.nwb"), "719161530",
        dict(subject_id="734865738", sex="F", age="P112D", species="Mus musculus", description="synthetic mouse"),
        repeats=[3, 2, 4, 3, 3, 2], blanks=2, areas={"VISp": (11, 4), "VISam": (13, 4), "CA1": (9, 4)},
        busy=2500.0,
    )
    # Bad inputs.
    make_session(rng, os.path.join(out, "bad", "no_stimulus.nwb"), "700000001", None,
                 repeats=[2] * FRAMES, blanks=1, areas={"VISp": (10, 1)}, with_stimulus=False)
    with open(os.path.join(out, "bad", "not_hdf5.nwb"), "wb") as f:
        f.write(b"this is not an HDF5 file\x00\x01\x02" + bytes(np.random.default_rng(seed + 1).integers(0, 256, 200, dtype=np.uint8)))
    write_expected(out, rows, NWB_CONFIG)


# ---------------------------------------------------------------------------------------
# ophys: two-photon dF/F

OPHYS_CONFIG = """[ingest]
kind = "nwb_roi_response"
sessions = ["sessions/*.nwb"]
out = "zoo"
stimulus = "natural_scenes"
condition = "frame"
window = [0.0, 0.5]
exclude_conditions = [-1]
group_by = "location"
min_units = 1
"""


def cmd_ophys(out, seed):
    from pynwb.ophys import DfOverF, ImageSegmentation, OpticalChannel, RoiResponseSeries

    rng = np.random.default_rng(seed)
    session_id = "501559087"
    subject = dict(subject_id="222426", genotype="Cux2-CreERT2/wt;Camk2a-tTA/wt;Ai93(TITL-GCaMP6f)/wt", sex="F",
                   age="P104D", species="Mus musculus", description="synthetic mouse")
    nwb = new_nwbfile(session_id, subject)
    starts, stops, frames = presentations(rng, [3] * FRAMES, 3)
    t_end = float(stops[-1] + 2.0)

    device = nwb.create_device(name="2p_microscope", description="two-photon microscope")
    channel = OpticalChannel(name="OpticalChannel", description="green", emission_lambda=520.0)
    plane = nwb.create_imaging_plane(
        name="imaging_plane_1", optical_channel=channel, description="synthetic plane", device=device,
        excitation_lambda=910.0, imaging_rate=30.0, indicator="GCaMP6f", location="VISp",
    )
    ophys = nwb.create_processing_module(name="ophys", description="optical physiology processed data")
    seg = ImageSegmentation()
    ophys.add(seg)
    ps = seg.create_plane_segmentation(name="PlaneSegmentation", description="cell ROIs", imaging_plane=plane)
    # the table holds 13 ROIs; the series reads 11 of them, in a permuted order
    n_table, n_rois = 13, 11
    roi_ids = rng.choice(np.arange(517000000, 517100000), size=n_table, replace=False)
    region = [int(r) for r in rng.permutation(n_table)[:n_rois]]
    for rid in roi_ids:
        mask = np.zeros((8, 8), dtype=np.float32)
        r, c = rng.integers(0, 6, 2)
        mask[r:r + 3, c:c + 3] = 1.0
        ps.add_roi(id=int(rid), image_mask=mask)
    rois = ps.create_roi_table_region(region=region, description="the ROIs of the series")

    n_t = int(np.ceil(t_end * 30.0))
    timestamps = np.arange(n_t, dtype=np.float64) / 30.0  # k/30: exact at multiples of 0.5
    data = rng.normal(0.0, 0.05, (n_t, n_rois))
    tuning = rng.uniform(0.0, 1.0, (FRAMES, n_rois))
    for s, fr in zip(starts, frames):
        if fr >= 0:
            sel = (timestamps >= s + 0.1) & (timestamps < s + 0.6)
            data[sel] += tuning[int(fr)]
    data = data.astype(np.float32)
    dff = DfOverF(name="DfOverF")
    ophys.add(dff)  # before the series, so its `rois` region shares an ancestor with the table
    dff.add_roi_response_series(RoiResponseSeries(name="RoiResponseSeries", data=data, rois=rois, unit="dF/F",
                                                  timestamps=timestamps, description="dF/F traces"))
    add_stimulus_table(nwb, starts, stops, frames)
    write_nwb(nwb, os.path.join(out, "sessions", "c.nwb"))

    w0, w1 = 0.0, 0.5
    per = []
    for s in starts:
        sel = (timestamps >= s + w0) & (timestamps < s + w1)
        assert sel.any()
        per.append(data[sel].astype(np.float64).mean(axis=0))
    per = np.stack(per)  # [presentations, the series' columns]
    per = per[:, np.argsort(roi_ids[region])]  # columns by ROI id
    mean, trials, _ = responses(per, frames, [BLANK])
    write_expected(out, expected_rows(session_id, "VISp", mean, trials, subject_fields(subject)), OPHYS_CONFIG)


# ---------------------------------------------------------------------------------------
# stores: activation arrays in npy, HDF5, Zarr v3 and Zarr v2

STORE_ARRAYS = [  # name, shape, dtype, zarr chunks
    ("a_f64", (40, 12), np.float64, (16, 5)),
    ("b_f32", (40, 7), np.float32, (16, 7)),
    ("c_f16", (40, 9), np.float16, (15, 4)),
    ("d_rank3", (10, 3, 6), np.float64, (4, 3, 4)),
    ("e_rank4", (8, 4, 4, 5), np.float32, (3, 2, 4, 5)),
]


def cmd_stores(out, seed):
    import h5py
    import numcodecs
    import zarr

    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(out, "npy"), exist_ok=True)
    os.makedirs(os.path.join(out, "bad"), exist_ok=True)
    for p in ["acts_v3.zarr", "acts_v2.zarr", "bad/partial.zarr"]:
        shutil.rmtree(os.path.join(out, p), ignore_errors=True)
    rows = []
    g3 = zarr.open_group(os.path.join(out, "acts_v3.zarr"), mode="w", zarr_format=3)
    g2 = zarr.open_group(os.path.join(out, "acts_v2.zarr"), mode="w", zarr_format=2)
    with h5py.File(os.path.join(out, "acts.h5"), "w") as h5:
        for i, (name, shape, dtype, chunks) in enumerate(STORE_ARRAYS):
            a = rng.normal(0.0, 1.0, shape).astype(dtype)
            np.save(os.path.join(out, "npy", f"{name}.npy"), a)
            h5.create_dataset(f"/blocks/{i}/out", data=a, compression="gzip", shuffle=True, chunks=True)
            z = g3.create_array(f"blocks/{i}/out", shape=shape, dtype=dtype, chunks=chunks)
            z[...] = a
            z = g2.create_array(f"blocks/{i}/out", shape=shape, dtype=dtype, chunks=chunks,
                                compressors=numcodecs.Blosc())
            z[...] = a
            rows += [
                (f"{name}_npy", name, f"npy/{name}.npy", ""),
                (f"{name}_h5", name, "acts.h5", f"/blocks/{i}/out"),
                (f"{name}_zarr3", name, "acts_v3.zarr", f"blocks/{i}/out"),
                (f"{name}_zarr2", name, "acts_v2.zarr", f"blocks/{i}/out"),
            ]
        be = rng.normal(0.0, 1.0, (40, 6))
        np.save(os.path.join(out, "npy", "be_f64.npy"), be)
        h5.create_dataset("/be/out", data=be.astype(">f8"), dtype=">f8", compression="gzip", shuffle=True, chunks=True)
        rows += [("be_f64_npy", "be_f64", "npy/be_f64.npy", ""), ("be_f64_h5", "be_f64", "acts.h5", "/be/out")]
        h5.create_dataset("/blocks/1d", data=rng.normal(0.0, 1.0, 40))
    with open(os.path.join(out, "stores.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["model_id", "layer", "uri", "key"])
        w.writerows(rows)

    # Bad: a dataset missing from an HDF5 file, an array path missing from a Zarr store, a 1-D
    # dataset, and arrays whose shapes claim far more than their files hold.
    with h5py.File(os.path.join(out, "bad", "partial.h5"), "w") as h5:
        h5.create_dataset("/blocks/0/out", data=rng.normal(0.0, 1.0, (40, 12)), compression="gzip", shuffle=True,
                          chunks=True)
        # claims 160 GB, holds nothing: no chunk was ever written
        h5.create_dataset("/huge", shape=(200_000, 100_000), dtype="f8", chunks=(1000, 1000), compression="gzip")
    gb = zarr.open_group(os.path.join(out, "bad", "partial.zarr"), mode="w", zarr_format=3)
    gb.create_array("blocks/0/out", shape=(40, 12), dtype=np.float64)[...] = rng.normal(0.0, 1.0, (40, 12))
    gb.create_array("huge", shape=(200_000, 100_000), chunks=(1000, 1000), dtype=np.float64)
    with open(os.path.join(out, "bad.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["model_id", "layer", "uri", "key"])
        w.writerows([
            ("h5_missing_key", "missing", "bad/partial.h5", "/blocks/1/out"),
            ("zarr_missing_path", "missing", "bad/partial.zarr", "blocks/1/out"),
            ("h5_rank1", "1d", "acts.h5", "/blocks/1d"),
            ("h5_huge", "huge", "bad/partial.h5", "/huge"),
            ("zarr_huge", "huge", "bad/partial.zarr", "huge"),
        ])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["nwb", "ophys", "stores"])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    {"nwb": cmd_nwb, "ophys": cmd_ophys, "stores": cmd_stores}[args.what](args.out, args.seed)


if __name__ == "__main__":
    main()
