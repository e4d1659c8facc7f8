"""Where the colour-space view looks from: a turntable camera fitted to the points.

Natural images put most pixels along the black–white diagonal of the colour cube,
so a fixed camera that looks down that diagonal, or shows it upright, squeezes
the points into a thin strip behind the centre markers. :func:`fit_view` chooses
an oblique direction that shows the points' spread (the largest projected
area), keeps the grey diagonal across the picture, and frames the points'
extent. Plain numpy: the numbers follow vispy's ``TurntableCamera`` (``z`` up;
at azimuth 0 and elevation 0 the screen's right is ``+x`` and its up ``+z``).
"""

from dataclasses import dataclass

import numpy as np

#: the elevations (degrees) tried: oblique, looking down on the cube
ELEVATIONS = np.arange(15.0, 61.0, 5.0)
#: the azimuths (degrees) tried
AZIMUTHS = np.arange(-180.0, 180.0, 5.0)
#: the grey diagonal must be at least this far (degrees) from the screen's
#: vertical, and keep this share of its length on screen (not seen end-on)
MIN_GREY_TILT = 25.0
MIN_GREY_LENGTH = 0.75
#: share of the canvas's width and height the framed points fill
FILL = 0.8
#: the frame is never narrower than this (scene units, the cube is 1): a cloud of
#: near-identical pixels is not blown up to fill the canvas
MIN_EXTENT = 0.25
#: the context (the cube, its axis names) is framed too if it widens the frame
#: by at most this factor
CONTEXT_COST = 1.4
#: the percentiles of the points framed (a few stray pixels do not shrink the rest)
FRAMED = (0.5, 99.5)

_GREY = np.ones(3) / np.sqrt(3.0)


@dataclass(frozen=True)
class CameraView:
    """What a turntable camera is set to (see vispy's ``TurntableCamera``)."""

    elevation: float
    azimuth: float
    center: tuple[float, float, float]
    scale_factor: float


def screen_axes(elevation: float, azimuth: float) -> tuple[np.ndarray, np.ndarray]:
    """The scene directions of the screen's right and up for a turntable camera
    at ``elevation`` and ``azimuth`` (degrees)."""
    el, az = np.radians(elevation), np.radians(azimuth)
    right = np.array([np.cos(az), np.sin(az), 0.0])
    forward = np.array([-np.sin(az), np.cos(az), 0.0])
    up = np.cos(el) * np.array([0.0, 0.0, 1.0]) + np.sin(el) * forward
    return right, up


def spread_score(cov: np.ndarray, right: np.ndarray, up: np.ndarray) -> float:
    """How much of the points' spread (covariance ``cov``) a view keeps: the
    projected area, with the projected variance to rank views of points on a
    line or a plane (both grow as length to the fourth)."""
    axes = np.stack([right, up])
    cov2 = axes @ cov @ axes.T
    return float(np.linalg.det(cov2) + 1e-3 * np.trace(cov2) ** 2)


def grey_reads_across(right: np.ndarray, up: np.ndarray) -> bool:
    """Whether the black–white diagonal is seen across: tilted from the vertical
    and not foreshortened to a dot."""
    x, y = float(_GREY @ right), float(_GREY @ up)
    tilt = np.degrees(np.arctan2(abs(x), abs(y)))
    return tilt >= MIN_GREY_TILT and np.hypot(x, y) >= MIN_GREY_LENGTH


def best_direction(points: np.ndarray) -> tuple[float, float]:
    """The (elevation, azimuth) among :data:`ELEVATIONS` × :data:`AZIMUTHS` that
    keeps the most of the spread of ``points`` ``(n, 3)`` with the grey diagonal
    read across."""
    cov = np.cov(points.T) if len(points) > 1 else np.zeros((3, 3))
    best, best_score = (30.0, -35.0), -np.inf
    for elevation in ELEVATIONS:
        for azimuth in AZIMUTHS:
            right, up = screen_axes(elevation, azimuth)
            if not grey_reads_across(right, up):
                continue
            score = spread_score(cov, right, up)
            if score > best_score + 1e-12:
                best, best_score = (float(elevation), float(azimuth)), score
    return best


def fit_view(
    points: np.ndarray,
    canvas_size: tuple[int, int],
    fov: float,
    context: np.ndarray | None = None,
) -> CameraView:
    """The camera that shows ``points`` ``(n, 3)`` (scene coordinates) at their
    spread (:func:`best_direction`), framed in a canvas of ``canvas_size``
    (width, height) pixels by a camera of field of view ``fov`` (degrees).

    ``context`` (e.g. the cube's corners and axis names) is framed too when
    that widens the frame by at most :data:`CONTEXT_COST`: points filling most
    of the cube are shown with the cube around them, a small cloud fills the
    canvas.
    """
    points = np.asarray(points, float).reshape(-1, 3)
    if not len(points):
        points = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    elevation, azimuth = best_direction(points)
    lo, hi = np.percentile(points, FRAMED, axis=0)
    inside = points[np.all((points >= lo) & (points <= hi), axis=1)]
    if not len(inside):
        inside = points
    view = frame(inside, elevation, azimuth, canvas_size, fov)
    if context is not None and len(context):
        both = np.concatenate([inside, np.asarray(context, float).reshape(-1, 3)])
        wider = frame(both, elevation, azimuth, canvas_size, fov)
        if wider.scale_factor <= CONTEXT_COST * view.scale_factor:
            view = wider
    return view


def frame(
    points: np.ndarray,
    elevation: float,
    azimuth: float,
    canvas_size: tuple[int, int],
    fov: float,
) -> CameraView:
    """The camera at ``elevation`` and ``azimuth`` whose picture holds all of
    ``points``, centred, filling :data:`FILL` of the canvas's binding side.

    vispy's ``scale_factor`` is the scene extent seen across the canvas's shorter
    side at the centre's depth; nearer points look larger (perspective).
    """
    right, up = screen_axes(elevation, azimuth)
    screen_axes_ = np.stack([right, up])
    lo, hi = points.min(axis=0), points.max(axis=0)
    center = (lo + hi) / 2
    along = (points - center) @ screen_axes_.T  # screen x, y (scene units)
    low, high = along.min(axis=0), along.max(axis=0)
    center = center + right * (low[0] + high[0]) / 2 + up * (low[1] + high[1]) / 2
    offsets = points - center
    screen = offsets @ screen_axes_.T
    toward = offsets @ np.cross(right, up)  # depth toward the camera
    width, height = (max(float(v), 1.0) for v in canvas_size)
    short = min(width, height)
    # the half extents seen across each side, in units of the shorter side
    halves = np.array([FILL * width / short, FILL * height / short]) / 2
    tan = 2 * np.tan(np.radians(max(float(fov), 0.01)) / 2)
    scale = max(MIN_EXTENT, float(np.max((high - low) / (2 * halves))))
    for _ in range(8):  # a nearer point looks larger: widen until all fit
        distance = scale * max(1.0, height / width) / tan
        magnified = distance / np.maximum(distance - toward, 1e-6 * distance)
        needed = np.max(np.abs(screen) * magnified[:, None] / halves)
        if needed <= scale * 1.001:
            break
        scale = needed
    return CameraView(
        elevation=float(elevation),
        azimuth=float(azimuth),
        center=tuple(float(v) for v in center),
        scale_factor=max(float(scale), MIN_EXTENT),
    )
