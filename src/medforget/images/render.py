"""Rendered radiograph-like frontal chest images (numpy + Pillow only).

No chest X-ray collection is available, so each imaging study gets a synthetic PA
chest film. The picture is an attenuation map -- body soft tissue and bones add
density, aerated lung removes it -- mapped through a per-study exposure curve.
Coordinates are normalised patient coordinates ``(u, v)`` in ``[-1, 1]``: ``u`` runs
to the image right (the patient's left), ``v`` runs down. ``side = -1`` is the lung
on the image left (patient's right), ``side = +1`` the lung on the image right.

Three sources of variation: the :class:`Anatomy` (per patient: body shape, heart,
ribs, vessel tree), the study ``seed`` (positioning shift/rotation/zoom, inspiration
depth, exposure, gastric bubble, detector mottle, where findings sit) and the
findings. The detector mottle is smooth, ~4-px-grain noise of a few gray levels
that keeps any two studies apart after downscaling to 64x64.
"""

from __future__ import annotations

import difflib
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from medforget.errors import ConfigError

RENDER_VERSION = "1.1.0"

FINDINGS: tuple[str, ...] = (
    "atelectasis",
    "calcified granuloma",
    "cardiomegaly",
    "emphysema",
    "medical device",
    "nodule",
    "opacity",
    "pleural effusion",
    "pneumothorax",
    "pulmonary edema",
    "scoliosis",
)

_AIR = 0.44  # attenuation removed by fully aerated lung
_TISSUE = 0.60  # attenuation of full-thickness body soft tissue
_BONE = 0.16  # attenuation added by bone (scaled by Anatomy.bone_density)
_MOTTLE = 10.0  # std (gray levels) of the 64x64-grid detector mottle


@dataclass(frozen=True)
class Anatomy:
    """Per-patient body shape, in normalised patient coordinates (image half-width = 1).

    Body: ``body_width`` torso half-width; ``shoulder_y`` top of the shoulders;
    ``neck_width`` neck half-width. Lungs (mirrored): ellipse centred at
    ``(+-lung_x, lung_y)`` with semi-axes ``lung_width``, ``lung_height``; bases cut by
    diaphragm domes peaking at ``dome_right`` / ``dome_left`` (v, patient sides) with
    curvature ``dome_curvature``. Heart: tilted ellipse at ``(heart_x, heart_y)`` with
    semi-axes ``heart_width``, ``heart_height``; ``mediastinum_width`` upper-mediastinum
    half-width. Spine: ``spine_x`` centre, ``spine_width`` half-width, ``vertebra_height``.
    Ribs: ``rib_spacing`` (period in v), ``rib_phase`` (0-1), ``rib_slope`` /
    ``rib_curvature`` (arc shape), ``rib_width`` (fraction of a period). Clavicles:
    medial end height ``clavicle_y``, lateral rise ``clavicle_tilt``. Densities
    (around 1): ``bone_density``, ``tissue_density``, ``lung_lucency``.
    ``vessel_seed`` seeds the patient's lung-vessel tree.
    """

    body_width: float
    shoulder_y: float
    neck_width: float
    lung_x: float
    lung_y: float
    lung_width: float
    lung_height: float
    dome_right: float
    dome_left: float
    dome_curvature: float
    heart_x: float
    heart_y: float
    heart_width: float
    heart_height: float
    mediastinum_width: float
    spine_x: float
    spine_width: float
    vertebra_height: float
    rib_spacing: float
    rib_phase: float
    rib_slope: float
    rib_curvature: float
    rib_width: float
    clavicle_y: float
    clavicle_tilt: float
    bone_density: float
    tissue_density: float
    lung_lucency: float
    vessel_seed: int


def _rng(seed: int, tag: int) -> np.random.Generator:
    """An independent generator per (seed, purpose tag); never global state."""
    return np.random.default_rng([tag, int(seed) % 2**64])


def sample_anatomy(seed: int) -> Anatomy:
    """Draw a plausible adult chest shape; same seed, same anatomy."""
    r = _rng(seed, 1).uniform
    dome_right = r(0.36, 0.50)
    return Anatomy(
        body_width=r(0.86, 0.98),
        shoulder_y=r(-0.98, -0.84),
        neck_width=r(0.17, 0.24),
        lung_x=r(0.38, 0.45),
        lung_y=r(0.08, 0.2),
        lung_width=r(0.30, 0.38),
        lung_height=r(0.86, 1.0),
        dome_right=dome_right,
        dome_left=dome_right + r(0.01, 0.07),
        dome_curvature=r(0.9, 1.6),
        heart_x=r(0.06, 0.13),
        heart_y=r(0.2, 0.28),
        heart_width=r(0.3, 0.37),
        heart_height=r(0.25, 0.31),
        mediastinum_width=r(0.09, 0.12),
        spine_x=r(-0.02, 0.02),
        spine_width=r(0.055, 0.07),
        vertebra_height=r(0.085, 0.105),
        rib_spacing=r(0.15, 0.19),
        rib_phase=r(0.0, 1.0),
        rib_slope=r(0.4, 0.6),
        rib_curvature=r(0.8, 1.1),
        rib_width=r(0.26, 0.34),
        clavicle_y=r(-0.7, -0.6),
        clavicle_tilt=r(0.06, 0.12),
        bone_density=r(0.85, 1.15),
        tissue_density=r(0.88, 1.12),
        lung_lucency=r(0.85, 1.15),
        vessel_seed=int(_rng(seed, 2).integers(0, 2**31)),
    )


@dataclass
class _Scene:
    """Mutable rendering state: coordinates, density layers and masks of one study."""

    a: Anatomy
    size: int
    u: np.ndarray
    v: np.ndarray
    pose: tuple[float, float, float, float, float]  # zoom, cos, sin, shift x, shift y
    dome_shift: float
    dense: np.ndarray = None  # type: ignore[assignment]
    air: np.ndarray = None  # type: ignore[assignment]
    lungs: dict[int, np.ndarray] = None  # type: ignore[assignment]
    heart: np.ndarray = None  # type: ignore[assignment]
    vessels: np.ndarray = None  # type: ignore[assignment]
    spine: np.ndarray = None  # type: ignore[assignment]

    def px(self, u: float, v: float) -> tuple[float, float]:
        """Patient coordinates -> pixel coordinates (for ImageDraw)."""
        z, c, s, dx, dy = self.pose
        x, y = z * (c * u - s * v) + dx, z * (s * u + c * v) + dy
        return (x + 1) * self.size / 2 - 0.5, (y + 1) * self.size / 2 - 0.5

    def layer(self, paint: Callable[[ImageDraw.ImageDraw], None], blur: float) -> np.ndarray:
        """Paint with ImageDraw on a blank layer, blur (in 256-px units), return 0..1."""
        img = Image.new("L", (self.size, self.size), 0)
        paint(ImageDraw.Draw(img))
        img = img.filter(ImageFilter.GaussianBlur(blur * self.size / 256))
        return np.asarray(img, dtype=np.float32) / 255.0

    def fill(self, amount: np.ndarray) -> None:
        """Replace a fraction ``amount`` (0..1) of the aerated lung by fluid/tissue."""
        self.air *= 1.0 - np.clip(amount, 0.0, 1.0)

    def local(self, cu: float, cv: float, r: float) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray]:
        """Pixel window covering the disk (cu, cv, r) and its patient coordinates."""
        x, y = self.px(cu, cv)
        rp = r * self.pose[0] * self.size / 2 + 3
        rows = slice(max(0, int(y - rp)), max(0, min(self.size, int(y + rp) + 2)))
        cols = slice(max(0, int(x - rp)), max(0, min(self.size, int(x + rp) + 2)))
        return (rows, cols), self.u[rows, cols], self.v[rows, cols]

    def blob(self, cu: float, cv: float, r: float, edge: float, density: float, fill: float = 1.0) -> None:
        """A soft disk that removes air (``fill``) and adds ``density``."""
        sl, u, v = self.local(cu, cv, r + edge)
        disk = _soft(_ellipse_sd(u, v, cu, cv, r, r), edge)
        self.air[sl] *= 1.0 - fill * disk
        self.dense[sl] += density * disk


def _soft(sd: np.ndarray, width: float) -> np.ndarray:
    """Soft inside-mask of a signed distance (negative inside)."""
    return np.clip(0.5 - sd / width, 0.0, 1.0)


def _ellipse_sd(u, v, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipse."""
    p, q = (u - cx) / rx, (v - cy) / ry
    return (np.sqrt(p * p + q * q) - 1.0) * min(rx, ry)


def _segment_sd(u, v, p0: tuple[float, float], p1: tuple[float, float], r: float):
    """Signed distance to a capsule of radius ``r`` around segment p0-p1."""
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    h = np.clip(((u - p0[0]) * dx + (v - p0[1]) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    ex, ey = u - p0[0] - h * dx, v - p0[1] - h * dy
    return np.sqrt(ex * ex + ey * ey) - r


def _lung_sd(s: _Scene, side: int, grow: float = 0.0, drop: float = 0.0, flat: float = 1.0):
    """Signed distance to one lung: ellipse cut by the diaphragm dome and the midline."""
    a, t = s.a, side * s.u
    ell = _ellipse_sd(t, s.v, a.lung_x, a.lung_y, a.lung_width + grow, a.lung_height + grow)
    peak = (a.dome_left if side > 0 else a.dome_right) + s.dome_shift + drop
    dt = t - a.lung_x
    dome = s.v - (peak + flat * a.dome_curvature * dt * dt)
    return np.maximum(np.maximum(ell, dome), 0.06 - t)


def _heart_mask(s: _Scene, scale: float = 1.0, shift: float = 0.0) -> np.ndarray:
    """Heart (tilted ellipse) plus upper mediastinum and aortic knob, soft mask."""
    a, c, sn = s.a, math.cos(0.5), math.sin(0.5)
    du, dv = s.u - (a.heart_x + shift), s.v - (a.heart_y + 0.3 * shift)
    p, q = (c * du + sn * dv) / (a.heart_width * scale), (c * dv - sn * du) / a.heart_height
    q2 = q - np.clip(q, 0.0, 0.6)  # stretch the lower half down onto the diaphragm
    heart = (np.sqrt(p * p + q2 * q2) - 1.0) * (a.heart_height * (0.6 + 0.4 * scale))
    band = np.maximum(np.abs(s.u - 0.02) - a.mediastinum_width, s.v - a.heart_y)
    knob = _ellipse_sd(s.u, s.v, a.mediastinum_width + 0.02, -0.34, 0.06, 0.08)
    return _soft(np.minimum(np.minimum(heart, band), knob), 0.03)


def _spine_mask(s: _Scene, amp: float = 0.0, waves: float = 1.0) -> np.ndarray:
    """Vertebral column with darker disc spaces and brighter cortical edges."""
    a, v = s.a, s.v
    off = np.abs(s.u - a.spine_x - amp * np.sin((np.pi * waves / 2) * (v + 1.0)) if amp else s.u - a.spine_x)
    ph = v / a.vertebra_height
    disc = np.clip(1.0 - (0.5 - np.abs(ph - np.floor(ph) - 0.5)) / 0.08, 0.0, 1.0)
    edge = np.clip(1.0 - np.abs(off - 0.75 * a.spine_width) / 0.015, 0.0, 1.0)
    return 0.6 * (_soft(off - a.spine_width, 0.02) * (1.0 - 0.5 * disc) + 0.4 * edge) * _soft(-0.75 - v, 0.1)


def _ribs(s: _Scene) -> np.ndarray:
    """Posterior rib arcs and fainter anterior ribs, within the rib cage."""
    a, t, v = s.a, np.abs(s.u), s.v
    sp = a.rib_spacing * (1.0 - 0.6 * s.dome_shift)
    f = (v + a.rib_slope * t - a.rib_curvature * t * t) / sp + a.rib_phase
    post = np.clip(1.0 - np.abs(f - np.floor(f) - 0.5) * (2 / a.rib_width), 0.0, 1.0)
    g = (v + 0.45 * t) / (1.15 * sp) + 1.7 * a.rib_phase
    ant = np.clip(1.0 - np.abs(g - np.floor(g) - 0.5) * 6.0, 0.0, 1.0) * np.clip((t - 0.25) * 4, 0, 1)
    cage = np.maximum(
        _ellipse_sd(t, v, a.lung_x, a.lung_y, a.lung_width + 0.06, a.lung_height + 0.04),
        v - (a.dome_left + s.dome_shift + 0.1),
    )
    return _soft(cage, 0.05) * (np.sqrt(post) * (1.0 - 0.4 * t) + 0.4 * ant)


def _clavicles(s: _Scene, body: np.ndarray) -> None:
    """Clavicles, computed on the top half of the image only."""
    a, half = s.a, slice(0, s.size // 2)
    u, v = s.u[half], s.v[half]
    y0, y1 = a.clavicle_y, a.clavicle_y + 0.03
    segs = [((k * 0.07, y0), (k * 0.3, y1), 0.03) for k in (-1, 1)]
    segs += [((k * 0.3, y1), (k * 0.7, y0 - a.clavicle_tilt), 0.025) for k in (-1, 1)]
    sd = _segment_sd(u, v, *segs[0])
    for seg in segs[1:]:
        sd = np.minimum(sd, _segment_sd(u, v, *seg))
    s.dense[half] += (1.2 * _BONE * a.bone_density) * _soft(sd, 0.02) * body[half]


def _vessel_tree(s: _Scene) -> np.ndarray:
    """Branching lung vessels radiating from the hila; fixed per patient."""
    rng = np.random.default_rng(s.a.vessel_seed)

    def paint(d: ImageDraw.ImageDraw) -> None:
        for side in (-1, 1):
            for ang in np.linspace(-1.3, 1.2, 12) + rng.uniform(-0.1, 0.1, 12):
                p, w, ang = (side * 0.19, s.a.heart_y - 0.38 + 0.12 * ang), 0.016, float(ang)
                for _ in range(4):
                    ang += rng.uniform(-0.35, 0.35)
                    step = rng.uniform(0.07, 0.13)
                    q = (p[0] + side * step * math.cos(ang), p[1] + step * math.sin(ang))
                    d.line([s.px(*p), s.px(*q)], fill=int(rng.integers(150, 256)), width=max(1, round(w * s.size / 2)))
                    p, w = q, w * 0.7

    return s.layer(paint, blur=1.6)


def _make_scene(a: Anatomy, seed: int, size: int) -> tuple[_Scene, np.random.Generator]:
    """Pose the patient for this study (shift, rotation, zoom, inspiration)."""
    rng = _rng(seed, 3)
    zoom, rot = rng.uniform(0.97, 1.03), rng.uniform(-0.04, 0.04)
    dx, dy, dome_shift = (rng.uniform(-0.035, 0.035) for _ in range(3))
    c, sn = math.cos(rot), math.sin(rot)
    x = (np.arange(size, dtype=np.float32) + 0.5) * (2 / size) - 1.0
    X, Y = x[None, :] - dx, x[:, None] - dy
    u, v = (c * X + sn * Y) * (1 / zoom), (c * Y - sn * X) * (1 / zoom)
    return _Scene(a, size, u, v, (zoom, c, sn, dx, dy), dome_shift), rng


def _draw_normal(s: _Scene, rng: np.random.Generator) -> None:
    """Body, lungs, heart, bones, vessels, trachea and gastric bubble."""
    a, u, v, au = s.a, s.u, s.v, np.abs(s.u)
    q = au * (1 / a.body_width)
    top = a.shoulder_y + 0.35 * q * q * q  # rounded shoulders
    body = np.maximum(
        _soft(np.maximum(au - a.body_width, top - v), 0.04), _soft(np.maximum(au - a.neck_width, v + 0.6), 0.04)
    )
    s.dense = (_TISSUE * a.tissue_density) * body * (1.0 - 0.45 * q * q)
    s.lungs = {side: _soft(_lung_sd(s, side), 0.025) for side in (-1, 1)}
    s.heart = _heart_mask(s)
    lung = s.lungs[-1] + s.lungs[1]
    dv = v - 0.05
    s.air = (_AIR * a.lung_lucency) * lung * (1.0 - s.heart) * (1.0 - 0.3 * dv * dv)
    s.spine = _spine_mask(s)
    s.vessels = _vessel_tree(s) * lung
    s.dense += 0.05 * s.heart + _BONE * a.bone_density * (s.spine + 0.8 * _ribs(s)) + 0.22 * s.vessels
    _clavicles(s, body)
    for side in (-1, 1):
        s.blob(side * 0.2, a.heart_y - 0.38, 0.04, 0.08, 0.03, 0.3)
    s.air += 0.16 * _soft(np.maximum(np.abs(u - a.spine_x) - 0.035, v + 0.3), 0.02) * body
    bu, bv = a.lung_x + rng.uniform(-0.1, 0.05), a.dome_left + s.dome_shift + rng.uniform(0.08, 0.14)
    s.blob(bu, bv, rng.uniform(0.04, 0.08), 0.04, -0.2 * rng.uniform(0.5, 1.0), 0.0)


def _inside(s: _Scene, side: int, pu: float, pv: float, margin: float) -> bool:
    """Whether (pu, pv) lies ``margin`` inside the lung and off the (current) heart."""
    sub = _Scene(s.a, 1, np.array([pu]), np.array([pv]), s.pose, s.dome_shift)
    x, y = s.px(pu, pv)
    ix, iy = min(max(int(x + 0.5), 0), s.size - 1), min(max(int(y + 0.5), 0), s.size - 1)
    return bool(_lung_sd(sub, side)[0] < -margin and s.heart[iy, ix] < 0.05)


def _spot(
    s: _Scene,
    rng: np.random.Generator,
    margin: float,
    vrange: tuple[float, float] = (-0.65, 0.45),
    trange: tuple[float, float] = (0.1, 0.85),
) -> tuple[float, float, int]:
    """A random (u, v, side) at least ``margin`` inside a lung, clear of the heart;
    ``trange`` bounds the distance from the midline."""
    for _ in range(500):
        side = 1 if rng.random() < 0.5 else -1
        pu, pv = side * rng.uniform(*trange), rng.uniform(*vrange)
        if _inside(s, side, pu, pv, margin):
            return pu, pv, side
    return side * s.a.lung_x, s.a.lung_y - 0.25, side  # pathological anatomy: mid upper zone


def _atelectasis(s: _Scene, rng: np.random.Generator) -> None:
    """Plate-like (discoid) dense band in a lower lung zone."""
    for _ in range(100):
        pu, pv, side = _spot(s, rng, margin=0.1, vrange=(-0.15, 0.35))
        half, ang = rng.uniform(0.12, 0.18), rng.uniform(-0.3, 0.3)
        p0 = (pu - half * math.cos(ang), pv - half * math.sin(ang))
        p1 = (pu + half * math.cos(ang), pv + half * math.sin(ang))
        if _inside(s, side, *p0, 0.02) and _inside(s, side, *p1, 0.02):
            break
    band = _soft(_segment_sd(s.u, s.v, p0, p1, rng.uniform(0.014, 0.02)), 0.025) * (side * s.u > 0)
    s.fill(band)
    s.dense += 0.04 * band * s.lungs[side]


def _granuloma(s: _Scene, rng: np.random.Generator) -> None:
    """Three to five small, very dense calcified dots near each other."""
    pu, pv, side = _spot(s, rng, margin=0.1)
    for _ in range(int(rng.integers(3, 6))):
        cu, cv = pu + rng.uniform(-0.1, 0.1), pv + rng.uniform(-0.1, 0.1)
        s.blob(cu, cv, rng.uniform(0.016, 0.024), 0.012, 0.65)


def _cardiomegaly(s: _Scene, rng: np.random.Generator) -> None:
    """Enlarged heart silhouette (cardiothoracic ratio well above 0.5)."""
    big = _heart_mask(s, scale=rng.uniform(1.4, 1.55), shift=rng.uniform(0.04, 0.08))
    s.fill(big)
    s.dense += 0.04 * np.clip(big - s.heart, 0, 1)
    s.heart = np.maximum(s.heart, big)


def _emphysema(s: _Scene, rng: np.random.Generator) -> None:
    """Hyperlucent, larger lungs with flattened low domes and sparse markings."""
    drop = rng.uniform(0.1, 0.15)
    for side in (-1, 1):
        big = _soft(_lung_sd(s, side, grow=0.03, drop=drop, flat=0.25), 0.03)
        s.air += _AIR * s.a.lung_lucency * np.clip(big - s.lungs[side], 0, 1) * (1 - s.heart)
        s.lungs[side] = np.maximum(big, s.lungs[side])
    s.air *= 1.3
    s.dense -= 0.07 * s.vessels


def _device(s: _Scene, rng: np.random.Generator) -> None:
    """Pacemaker-like box in the upper chest with bright leads into the heart."""
    side = 1 if rng.random() < 0.8 else -1
    bu, bv, ang = side * rng.uniform(0.45, 0.62), rng.uniform(-0.62, -0.48), rng.uniform(-0.4, 0.4)
    corners = [
        (bu + x * math.cos(ang) - y * math.sin(ang), bv + x * math.sin(ang) + y * math.cos(ang))
        for x, y in ((-0.08, -0.05), (0.08, -0.05), (0.08, 0.05), (-0.08, 0.05))
    ]
    tip = (s.a.heart_x + s.a.heart_width * 0.6, s.a.heart_y + rng.uniform(0.0, 0.12))
    ctrl = [(bu, bv), (side * 0.15, -0.55), (-0.1, -0.1), (-0.08, 0.3), tip]

    def paint(d: ImageDraw.ImageDraw) -> None:
        d.polygon([s.px(*p) for p in corners], fill=255)
        for t_end in (1.0, rng.uniform(0.55, 0.7)):
            pts = [_bezier(ctrl, t) for t in np.linspace(0, t_end, 30)]
            d.line([s.px(*p) for p in pts], fill=235, width=max(2, round(s.size / 100)), joint="curve")

    s.dense += 0.9 * s.layer(paint, blur=0.6)


def _bezier(ctrl: Sequence[tuple[float, float]], t: float) -> tuple[float, float]:
    """Point at parameter ``t`` on a Bezier curve (de Casteljau)."""
    pts = list(ctrl)
    while len(pts) > 1:
        pts = [((1 - t) * p[0] + t * q[0], (1 - t) * p[1] + t * q[1]) for p, q in zip(pts, pts[1:])]
    return pts[0]


def _nodule(s: _Scene, rng: np.random.Generator) -> None:
    """One round, dense, well-defined nodule of about 1-2 cm."""
    pu, pv, _ = _spot(s, rng, margin=0.1)
    s.blob(pu, pv, rng.uniform(0.045, 0.065), 0.025, 0.1)


def _opacity(s: _Scene, rng: np.random.Generator) -> None:
    """Patchy airspace density made of several overlapping blobs in one lung zone."""
    pu, pv, side = _spot(s, rng, margin=0.12, trange=(0.32, 0.75))
    sl, u, v = s.local(pu, pv, 0.32)
    patch = np.zeros_like(u)
    for _ in range(10):
        cu, cv, r = pu + rng.uniform(-0.13, 0.13), pv + rng.uniform(-0.13, 0.13), rng.uniform(0.07, 0.13)
        d2 = ((u - cu) ** 2 + (v - cv) ** 2) * (1 / (r * r))
        patch += rng.uniform(0.4, 0.8) * np.clip(1.0 - d2, 0.0, 1.0) ** 2
    s.air[sl] *= 1.0 - 0.9 * np.clip(patch, 0, 1) * (side * u > 0)


def _effusion(s: _Scene, rng: np.random.Generator) -> None:
    """Dense basal fluid with a meniscus climbing the lateral wall; angle blunted."""
    sides = (-1, 1) if rng.random() < 0.25 else (int(rng.choice((-1, 1))),)
    for side in sides:
        a, t = s.a, side * s.u
        peak = (a.dome_left if side > 0 else a.dome_right) + s.dome_shift
        rim = np.clip((t - 0.1) / (a.lung_x + a.lung_width - 0.1), 0, 1) ** 2
        level = peak - rng.uniform(0.08, 0.22) - rng.uniform(0.15, 0.25) * rim
        fluid = np.clip((s.v - level) / 0.08, 0, 1) * (t > 0)
        s.fill(fluid)
        s.dense += 0.05 * fluid * s.lungs[side]


def _pneumothorax(s: _Scene, rng: np.random.Generator) -> None:
    """Apical/lateral lucent rim without markings, bounded by a thin pleural line."""
    a, side, d = s.a, int(rng.choice((-1, 1))), rng.uniform(0.07, 0.12)
    rx, ry = a.lung_width - d / 3, a.lung_height - 0.3 * d
    p, q = (side * s.u - a.lung_x + 2 * d / 3) / rx, (s.v - a.lung_y - 0.7 * d) / ry
    r = np.sqrt(p * p + q * q)
    sd = (r - 1.0) * r / np.sqrt(p * p / (rx * rx) + q * q / (ry * ry) + 1e-6)
    lung = s.lungs[side] * np.maximum(np.clip(3 * p + 1.5, 0, 1), np.clip(-3 * q - 1.5, 0, 1))
    rim = _soft(-sd, 0.012) * lung
    s.dense -= 0.16 * rim * s.vessels
    s.fill(0.2 * (s.lungs[side] - rim))
    s.air += 0.12 * rim
    s.dense += 0.2 * np.clip(1.0 - np.abs(sd) / 0.008, 0, 1) * lung


def _edema(s: _Scene, rng: np.random.Generator) -> None:
    """Bilateral hazy perihilar ('bat wing') density fading to the periphery."""
    hv = s.a.heart_y - 0.35 + rng.uniform(-0.05, 0.05)
    du, dv = np.abs(s.u) - 0.2, s.v - hv
    wing = np.exp(np.maximum(du * du * (-1 / 0.09) - dv * dv * (1 / 0.12), -20.0))
    s.fill(rng.uniform(0.8, 0.95) * wing)


def _scoliosis(s: _Scene, rng: np.random.Generator) -> None:
    """Laterally curved spine (C- or S-shaped)."""
    amp = (1.0 if rng.random() < 0.5 else -1.0) * rng.uniform(0.14, 0.2)
    curved = _spine_mask(s, amp=amp, waves=1.0 if rng.random() < 0.5 else 2.0)
    s.dense += (_BONE * s.a.bone_density) * (curved - s.spine)
    s.spine = curved


# Drawing functions in application order: shape changes first, then overlays.
_DRAW: dict[str, Callable[[_Scene, np.random.Generator], None]] = {
    "emphysema": _emphysema,
    "cardiomegaly": _cardiomegaly,
    "scoliosis": _scoliosis,
    "pneumothorax": _pneumothorax,
    "pleural effusion": _effusion,
    "pulmonary edema": _edema,
    "opacity": _opacity,
    "atelectasis": _atelectasis,
    "nodule": _nodule,
    "calcified granuloma": _granuloma,
    "medical device": _device,
}
assert set(_DRAW) == set(FINDINGS)


def _check(findings: Sequence[str], size: int) -> None:
    """Reject unknown finding names and unusable sizes with a helpful ConfigError."""
    if isinstance(findings, str):
        raise ConfigError(f"findings must be a sequence of names, got the string {findings!r}")
    for name in findings:
        if not isinstance(name, str) or name not in _DRAW:
            near = difflib.get_close_matches(str(name), FINDINGS, n=1)
            hint = f" Did you mean {near[0]!r}?" if near else ""
            raise ConfigError(f"unknown finding {name!r}.{hint} Valid findings: {', '.join(FINDINGS)}.")
    if not isinstance(size, int) or size < 16:
        raise ConfigError(f"image size must be an int >= 16, got {size!r}")


def render_radiograph(anatomy: Anatomy, findings: Sequence[str], seed: int, size: int = 256) -> Image.Image:
    """Render one study of ``anatomy`` with ``findings`` as a ``size`` x ``size`` "L" image."""
    findings = tuple(findings) if not isinstance(findings, str) else findings
    _check(findings, size)
    s, rng = _make_scene(anatomy, seed, size)
    _draw_normal(s, rng)
    for name in _DRAW:  # fixed order; each finding has its own generator
        if name in findings:
            _DRAW[name](s, _rng(seed, 100 + FINDINGS.index(name)))
    gain, offset, gamma = rng.uniform(1.06, 1.16), rng.uniform(0.07, 0.1), rng.uniform(0.93, 1.07)
    gray = 255.0 * np.clip(offset + gain * (s.dense - s.air), 0.0, 1.0) ** gamma
    n = min(size, 64)
    mottle = Image.fromarray(rng.standard_normal((n, n)).astype(np.float32), "F")
    gray += _MOTTLE * np.asarray(mottle.resize((size, size), Image.Resampling.BICUBIC))
    img = Image.fromarray(np.clip(gray + 0.5, 0, 255).astype(np.uint8), "L")
    return img.filter(ImageFilter.GaussianBlur(0.6 * size / 256))


def encode_png(image: Image.Image) -> bytes:
    """Deterministic PNG bytes (no metadata, fixed compression settings). Level 3 encodes a
    256px render in ~2 ms for ~34 KB; level 6 takes ~7 ms to save 8 %."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=3)
    return buf.getvalue()
