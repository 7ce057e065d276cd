//! Minimising a distance along a geodesic, t ∈ [lo, hi]: a scan for the basin, then a
//! bracketed search inside it to |Δt| < 1e-12 (§2.3).

use crate::MetricError;

/// The best of `steps` + 1 equally spaced values of f on [lo, hi], and the bracket of one step
/// either side of it (clipped to [lo, hi]).
fn basin(
    f: &impl Fn(f64) -> Result<f64, MetricError>,
    lo: f64,
    hi: f64,
    steps: usize,
) -> Result<((f64, f64), (f64, f64)), MetricError> {
    let step = (hi - lo) / steps as f64;
    let mut best = (lo, f(lo)?);
    for i in 1..=steps {
        let t = lo + i as f64 * step;
        let v = f(t)?;
        if v < best.1 {
            best = (t, v);
        }
    }
    Ok((best, ((best.0 - step).max(lo), (best.0 + step).min(hi))))
}

/// The minimum of a 1-D function on [lo, hi]: a grid scan of 16 steps for the basin, then
/// Brent's method (golden section with parabolic steps; Brent 1973, "Algorithms for
/// Minimization without Derivatives", ch. 5) inside it to |Δt| < 1e-12. Returns (t*, f(t*)).
pub(super) fn minimise_on_line(
    f: impl Fn(f64) -> Result<f64, MetricError>,
    lo: f64,
    hi: f64,
) -> Result<(f64, f64), MetricError> {
    const TOL: f64 = 1e-12;
    let (best, (mut a, mut b)) = basin(&f, lo, hi, 16)?;
    let golden = (3.0 - 5f64.sqrt()) / 2.0;
    // x: the best point so far, w: the second best, v: the previous w
    let (mut x, mut fx) = best;
    let (mut w, mut fw, mut v, mut fv) = (x, fx, x, fx);
    let (mut d, mut e) = (0.0f64, 0.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (a + b);
        let tol1 = TOL * 0.5;
        if (x - mid).abs() <= 2.0 * tol1 - 0.5 * (b - a) {
            break;
        }
        let mut golden_step = true;
        if e.abs() > tol1 {
            // a parabola through x, w, v
            let r = (x - w) * (fx - fv);
            let mut q = (x - v) * (fx - fw);
            let mut p = (x - v) * q - (x - w) * r;
            q = 2.0 * (q - r);
            if q > 0.0 {
                p = -p;
            }
            q = q.abs();
            if p.abs() < (0.5 * q * e).abs() && p > q * (a - x) && p < q * (b - x) {
                e = d;
                d = p / q;
                let u = x + d;
                if u - a < 2.0 * tol1 || b - u < 2.0 * tol1 {
                    d = if x < mid { tol1 } else { -tol1 };
                }
                golden_step = false;
            }
        }
        if golden_step {
            e = if x < mid { b - x } else { a - x };
            d = golden * e;
        }
        let u = if d.abs() >= tol1 { x + d } else { x + tol1.copysign(d) };
        let fu = f(u)?;
        if fu <= fx {
            if u < x {
                b = x;
            } else {
                a = x;
            }
            (v, fv, w, fw, x, fx) = (w, fw, x, fx, u, fu);
        } else {
            if u < x {
                a = u;
            } else {
                b = u;
            }
            if fu <= fw || w == x {
                (v, fv, w, fw) = (w, fw, u, fu);
            } else if fu <= fv || v == x || v == w {
                (v, fv) = (u, fu);
            }
        }
    }
    Ok((x, fx))
}

/// The minimum of f on [lo, hi] given its slope: an 8-step scan finds the basin (the
/// slope's sign across it is checked), then the slope's root inside it (false position, Illinois variant, with
/// bisection whenever a step shrinks the bracket by less than half) to |Δt| < 1e-12. The
/// root of the slope is located to rounding, where a value-only search stops at the
/// flatness of f (√ε). Falls back to [`minimise_on_line`] when the slope does not change
/// sign across the basin (a minimum at an end of [lo, hi]).
pub(super) fn minimise_by_slope(
    f: impl Fn(f64) -> Result<f64, MetricError>,
    slope: impl Fn(f64) -> Result<f64, MetricError>,
    lo: f64,
    hi: f64,
) -> Result<(f64, f64), MetricError> {
    let (best, (mut a, mut b)) = basin(&f, lo, hi, 8)?;
    let (mut sa, mut sb) = (slope(a)?, slope(b)?);
    if !(sa < 0.0 && sb > 0.0) {
        return minimise_on_line(f, lo, hi);
    }
    let mut side = 0i32;
    for _ in 0..200 {
        if b - a < 1e-12 {
            break;
        }
        let width = b - a;
        let mut t = (a * sb - b * sa) / (sb - sa);
        if !(t > a && t < b) {
            t = 0.5 * (a + b);
        }
        let st = slope(t)?;
        if st == 0.0 {
            (a, b) = (t, t);
            break;
        }
        if st < 0.0 {
            a = t;
            sa = st;
            if side == -1 {
                sb *= 0.5;
            }
            side = -1;
        } else {
            b = t;
            sb = st;
            if side == 1 {
                sa *= 0.5;
            }
            side = 1;
        }
        if b - a > 0.5 * width {
            // a slow step: bisect once
            let mid = 0.5 * (a + b);
            let sm = slope(mid)?;
            if sm < 0.0 {
                (a, sa) = (mid, sm);
            } else {
                (b, sb) = (mid, sm);
            }
            side = 0;
        }
    }
    let t = 0.5 * (a + b);
    let v = f(t)?;
    Ok(if v <= best.1 { (t, v) } else { best })
}
