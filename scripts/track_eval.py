#!/usr/bin/env python3
"""Tracking evaluation for tests/tracking.rs: synthesised detections, a greedy baseline, TrackEval.

  track_eval.py synth DIR   writes DIR/det/<seq>.txt: MOTChallenge detections made from the
                            ground truth of TUD-Campus and TUD-Stadtmitte (shipped inside the
                            installed motmetrics wheel; read there, never copied into the repo)
                            by a seeded generator: box jitter, misses, clutter, and occlusion
                            spells in which a person's box is still found but with a low score.
                            Prints one line per sequence: `name width height fps`.
  track_eval.py eval DIR [EVERY]
                            scores DIR/trackers/edgesight/data/<seq>.txt (written by `edgesight
                            track`) and a greedy-IoU baseline it computes itself on the same
                            detections with TrackEval (HOTA, CLEAR, Identity); prints JSON.
                            EVERY > 1: only frames 1, 1 + EVERY, ... were processed (a stream's
                            fps_limit): the ground truth and the baseline's input are thinned
                            alike (the thinned ground truth goes to DIR/gt).

Everything is deterministic: the same seed gives the same detections on every machine.
"""

import importlib.util
import json
import os
import sys

import numpy as np

SEQUENCES = {
    # name: (width, height, fps), from the MOT15 seqinfo of these sequences.
    "TUD-Campus": (640, 480, 25),
    "TUD-Stadtmitte": (640, 480, 25),
}
SEED = 14
# The reporting threshold `edgesight track` uses without a config (model.score_threshold).
SCORE_THRESHOLD = 0.35


def gt_dir():
    spec = importlib.util.find_spec("motmetrics")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("track_eval: the motmetrics package is not installed (scripts/setup.sh venv installs it)")
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


def read_gt(seq):
    path = os.path.join(gt_dir(), seq, "gt.txt")
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    return rows[rows[:, 6] != 0]  # columns: frame, id, x, y, w, h, conf(1), ...


def synthesise(seq, seed):
    """Detections a decent detector would give on `seq`, from its ground truth."""
    rng = np.random.default_rng([seed, sum(map(ord, seq))])
    gt = read_gt(seq)
    width, height, _ = SEQUENCES[seq]
    frames = int(gt[:, 0].max())
    out = []
    # Occlusion spells: per person, with probability 0.6, one stretch of 4 to 14 frames in which
    # the detector still sees the box but scores it low (0.12..0.33, under the reporting threshold).
    spells = {}
    for pid in np.unique(gt[:, 1]):
        f = gt[gt[:, 1] == pid, 0]
        if len(f) > 10 and rng.random() < 0.6:
            length = int(rng.integers(4, 15))
            start = int(rng.integers(int(f.min()), max(int(f.min()) + 1, int(f.max()) - length)))
            spells[pid] = (start, start + length)
    for frame, pid, x, y, w, h in gt[:, :6]:
        s = spells.get(pid)
        low = s is not None and s[0] <= frame < s[1]
        if rng.random() < (0.15 if low else 0.07):
            continue  # missed
        score = rng.uniform(0.12, 0.33) if low else rng.uniform(0.5, 0.95)
        jx, jy = rng.normal(0, 0.04 * w), rng.normal(0, 0.03 * h)
        sw, sh = 1 + rng.normal(0, 0.04), 1 + rng.normal(0, 0.03)
        out.append((frame, x + jx, y + jy, w * sw, h * sh, score))
    # Clutter: on average 1.5 false boxes per frame of a pedestrian's shape, mostly low scores,
    # some above the threshold (they must not become tracks).
    for frame in range(1, frames + 1):
        for _ in range(rng.poisson(1.5)):
            w = rng.uniform(30, 110)
            h = w * rng.uniform(2.0, 2.8)
            x, y = rng.uniform(0, width - w), rng.uniform(0, max(1, height - h))
            out.append((frame, x, y, w, h, rng.uniform(0.1, 0.6)))
    out.sort(key=lambda d: (d[0], -d[5]))
    return out


def write_mot(path, rows):
    with open(path, "w") as f:
        for frame, x, y, w, h, score in rows:
            f.write(f"{int(frame)},-1,{x:.2f},{y:.2f},{w:.2f},{h:.2f},{score:.4f},-1,-1,-1\n")


def iou(a, b):
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def greedy_baseline(dets, every=1):
    """The IoU tracker (Bochinski et al. 2017) as the baseline: detections above the reporting
    threshold only, each track matched greedily to the best-overlapping box of the next frame
    (IoU >= 0.3), no motion model, a track ends at its first miss, every unmatched box starts one."""
    by_frame = {}
    for d in dets:
        if d[5] > SCORE_THRESHOLD:
            by_frame.setdefault(int(d[0]), []).append(d)
    active, next_id, out = [], 1, []
    for frame in range(1, max(by_frame, default=0) + 1, every):
        boxes = by_frame.get(frame, [])
        pairs = sorted(
            ((iou(t[1], b[1:5]), ti, bi) for ti, t in enumerate(active) for bi, b in enumerate(boxes)), reverse=True
        )
        used_t, used_b, kept = set(), set(), []
        for v, ti, bi in pairs:
            if v < 0.3 or ti in used_t or bi in used_b:
                continue
            used_t.add(ti)
            used_b.add(bi)
            kept.append((active[ti][0], boxes[bi][1:5]))
        for bi, b in enumerate(boxes):
            if bi not in used_b:
                kept.append((next_id, b[1:5]))
                next_id += 1
        active = kept
        for tid, (x, y, w, h) in active:
            out.append((frame, tid, x, y, w, h))
    return out


def synth(root):
    os.makedirs(os.path.join(root, "det"), exist_ok=True)
    for seq, (w, h, fps) in SEQUENCES.items():
        write_mot(os.path.join(root, "det", seq + ".txt"), synthesise(seq, SEED))
        print(seq, w, h, fps)


def evaluate(root, every=1):
    import trackeval  # noqa: E402 (only this step needs it)

    base = os.path.join(root, "trackers", "greedy-iou", "data")
    os.makedirs(base, exist_ok=True)
    seq_info = {}
    gt_folder = gt_dir()
    if every > 1:
        gt_folder = os.path.join(root, "gt")
        for seq in SEQUENCES:
            os.makedirs(os.path.join(gt_folder, seq), exist_ok=True)
            gt = read_gt(seq)
            np.savetxt(
                os.path.join(gt_folder, seq, "gt.txt"), gt[(gt[:, 0] - 1) % every == 0], delimiter=",", fmt="%g"
            )
    for seq in SEQUENCES:
        det = np.loadtxt(os.path.join(root, "det", seq + ".txt"), delimiter=",", ndmin=2)
        det = det[(det[:, 0] - 1) % every == 0]
        rows = greedy_baseline([tuple(r[[0, 2, 3, 4, 5, 6]]) for r in det], every)
        with open(os.path.join(base, seq + ".txt"), "w") as f:
            for frame, tid, x, y, w, h in rows:
                f.write(f"{frame},{tid},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,-1,-1,-1\n")
        seq_info[seq] = int(read_gt(seq)[:, 0].max())
    eval_cfg = trackeval.Evaluator.get_default_eval_config()
    eval_cfg.update(
        {
            "USE_PARALLEL": False,
            "PRINT_RESULTS": False,
            "PRINT_ONLY_COMBINED": False,
            "PRINT_CONFIG": False,
            "TIME_PROGRESS": False,
            "DISPLAY_LESS_PROGRESS": True,
            "OUTPUT_SUMMARY": False,
            "OUTPUT_DETAILED": False,
            "PLOT_CURVES": False,
        }
    )
    data_cfg = trackeval.datasets.MotChallenge2DBox.get_default_dataset_config()
    data_cfg.update(
        {
            "GT_FOLDER": gt_folder,
            "GT_LOC_FORMAT": "{gt_folder}/{seq}/gt.txt",
            "TRACKERS_FOLDER": os.path.join(root, "trackers"),
            "OUTPUT_FOLDER": os.path.join(root, "out"),
            "TRACKERS_TO_EVAL": ["edgesight", "greedy-iou"],
            "BENCHMARK": "MOT15",
            "SKIP_SPLIT_FOL": True,
            "SEQ_INFO": seq_info,
            "DO_PREPROC": False,
            "PRINT_CONFIG": False,
        }
    )
    evaluator = trackeval.Evaluator(eval_cfg)
    dataset = trackeval.datasets.MotChallenge2DBox(data_cfg)
    metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR(), trackeval.metrics.Identity()]
    results, _ = evaluator.evaluate([dataset], metrics)
    res = results["MotChallenge2DBox"]
    out = {}
    for tracker in ["edgesight", "greedy-iou"]:
        out[tracker] = {}
        for seq in list(SEQUENCES) + ["COMBINED_SEQ"]:
            r = res[tracker][seq]["pedestrian"]
            out[tracker]["combined" if seq == "COMBINED_SEQ" else seq] = {
                "HOTA": round(100 * float(np.mean(r["HOTA"]["HOTA"])), 2),
                "IDF1": round(100 * float(r["Identity"]["IDF1"]), 2),
                "IDSW": int(r["CLEAR"]["IDSW"]),
                "MOTA": round(100 * float(r["CLEAR"]["MOTA"]), 2),
            }
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in ("synth", "eval"):
        sys.exit(__doc__)
    if sys.argv[1] == "synth":
        synth(sys.argv[2])
    else:
        evaluate(sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 1)
