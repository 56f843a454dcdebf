//! Presence of one track in one zone. A change of side holds only after `inertia` observations
//! in a row agree (Frigate's term and default: box jitter at a zone's edge must not make an
//! object leave and enter again), and it dates from the first of them.

/// What a step changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneChange {
    /// `appeared`: the track was inside from its first observation (a parked car whose track
    /// started there, or one that came into view inside the zone), not seen coming in.
    Enter {
        since_ms: u64,
        appeared: bool,
    },
    /// `since_ms`: when it left (the first of the `inertia` observations outside).
    Exit {
        since_ms: u64,
        dwell_ms: u64,
    },
    Loiter {
        dwell_ms: u64,
    },
}

/// What one track has done in one zone.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ZoneState {
    inside: bool,
    /// Observations in a row that disagree with `inside`, and when the first of them was.
    streak: u32,
    streak_since: u64,
    /// When the current stay began (the first inside observation of the streak that entered).
    entered_ms: u64,
    /// The track has been seen outside this zone at least once.
    seen_outside: bool,
    loitered: bool,
    /// The current stay's number (set by the caller on `Enter`; kept through a hand-over).
    pub stay_id: u64,
}

impl ZoneState {
    pub fn inside(&self) -> bool {
        self.inside
    }

    /// One observation at stream time `t_ms`. `loiter_ms`: report a stay this long (None: off).
    pub fn step(&mut self, now_inside: bool, t_ms: u64, inertia: u32, loiter_ms: Option<u64>) -> Option<ZoneChange> {
        if now_inside == self.inside {
            self.streak = 0;
            return match loiter_ms {
                Some(l) if self.inside && !self.loitered && t_ms.saturating_sub(self.entered_ms) >= l => {
                    self.loitered = true;
                    Some(ZoneChange::Loiter { dwell_ms: t_ms.saturating_sub(self.entered_ms) })
                }
                _ => {
                    self.seen_outside |= !now_inside;
                    None
                }
            };
        }
        if self.streak == 0 {
            self.streak_since = t_ms;
        }
        self.streak += 1;
        if self.streak < inertia.max(1) {
            return None;
        }
        self.streak = 0;
        self.inside = now_inside;
        if now_inside {
            self.entered_ms = self.streak_since;
            self.loitered = false;
            Some(ZoneChange::Enter { since_ms: self.streak_since, appeared: !self.seen_outside })
        } else {
            self.seen_outside = true;
            Some(ZoneChange::Exit {
                since_ms: self.streak_since,
                dwell_ms: self.streak_since.saturating_sub(self.entered_ms),
            })
        }
    }

    /// The track ended (or its stream reset) at `last_ms`, its last observation: the stay ends.
    pub fn end(&mut self, last_ms: u64) -> Option<u64> {
        let was = std::mem::replace(&mut self.inside, false);
        self.streak = 0;
        was.then(|| last_ms.saturating_sub(self.entered_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seq: &[(bool, u64)], inertia: u32, loiter: Option<u64>) -> Vec<ZoneChange> {
        let mut z = ZoneState::default();
        seq.iter().filter_map(|&(inside, t)| z.step(inside, t, inertia, loiter)).collect()
    }

    #[test]
    fn enter_and_exit_need_inertia_observations_and_date_from_the_first() {
        let seq = [(false, 0), (true, 100), (false, 200), (true, 300), (true, 400), (true, 500), (false, 600)];
        assert_eq!(run(&seq, 3, None), vec![ZoneChange::Enter { since_ms: 300, appeared: false }]);
        let seq = [(false, 0), (true, 100), (true, 200), (false, 300), (false, 400), (true, 500), (false, 600)];
        assert_eq!(
            run(&seq, 2, None),
            vec![
                ZoneChange::Enter { since_ms: 100, appeared: false },
                ZoneChange::Exit { since_ms: 300, dwell_ms: 200 }
            ]
        );
    }

    #[test]
    fn a_track_that_starts_inside_is_marked_as_appeared() {
        let seq = [(true, 0), (true, 100), (true, 200)];
        assert_eq!(run(&seq, 3, None), vec![ZoneChange::Enter { since_ms: 0, appeared: true }]);
    }

    #[test]
    fn loitering_is_reported_once_per_stay() {
        let seq = [(true, 0), (true, 1000), (true, 2000), (true, 3000), (false, 4000), (true, 5000), (true, 8000)];
        assert_eq!(
            run(&seq, 1, Some(2000)),
            vec![
                ZoneChange::Enter { since_ms: 0, appeared: true },
                ZoneChange::Loiter { dwell_ms: 2000 },
                ZoneChange::Exit { since_ms: 4000, dwell_ms: 4000 },
                ZoneChange::Enter { since_ms: 5000, appeared: false },
                ZoneChange::Loiter { dwell_ms: 3000 },
            ]
        );
    }

    #[test]
    fn the_end_of_a_track_inside_ends_its_stay() {
        let mut z = ZoneState::default();
        z.step(true, 100, 1, None);
        assert_eq!(z.end(900), Some(800));
        assert_eq!(z.end(1000), None, "only once");
    }
}
