//! A run's recent steps, kept where the backend computed them, so that a
//! page can scrub back through a run and draw any of them again without
//! running the transformer.

use std::collections::VecDeque;

use super::Show;

/// The most steps a history keeps. Each step holds three latents (x_t after
/// the step, x̂0 and v), image tokens of `tokens × 4·channels` f32: 12 KiB a
/// step for the built-in model at its 64², 192 KiB at 256², 3 MiB for
/// FLUX.1 at 1024² (192 MiB for 64 steps, on the GPU). More steps than this
/// keep the latest.
pub const HISTORY_LIMIT: usize = 64;

/// One step of a run, as it was computed.
#[derive(Clone, Debug)]
pub struct StepRecord<L> {
    /// 0 for the run's first step.
    pub index: usize,
    /// The time the model was evaluated at.
    pub t: f64,
    /// The time the step moved to.
    pub t_next: f64,
    /// x at `t_next`: the latent after the step.
    pub latent: L,
    /// The model's velocity at `t`.
    pub velocity: L,
    /// The clean latent it predicted at `t`: x_t − t·v.
    pub predicted_clean: L,
}

impl<L> StepRecord<L> {
    pub fn latent(&self, show: Show) -> &L {
        match show {
            Show::Current => &self.latent,
            Show::PredictedClean => &self.predicted_clean,
            Show::Velocity => &self.velocity,
        }
    }
}

/// The latest steps of a run, at most `capacity` (itself at most
/// [`HISTORY_LIMIT`]); 0 keeps none, which is what plain generation uses.
#[derive(Debug)]
pub struct History<L> {
    capacity: usize,
    records: VecDeque<StepRecord<L>>,
}

impl<L> History<L> {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.min(HISTORY_LIMIT);
        Self {
            capacity,
            records: VecDeque::with_capacity(capacity),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub(super) fn push(&mut self, record: StepRecord<L>) {
        if self.capacity == 0 {
            return;
        }
        if self.records.len() == self.capacity {
            self.records.pop_front();
        }
        self.records.push_back(record);
    }

    pub(super) fn clear(&mut self) {
        self.records.clear();
    }

    /// Step `index` of the run, if it is still kept.
    pub fn get(&self, index: usize) -> Option<&StepRecord<L>> {
        let first = self.records.front()?.index;
        self.records.get(index.checked_sub(first)?)
    }

    /// The indices of the steps kept, oldest first.
    pub fn kept(&self) -> std::ops::Range<usize> {
        match (self.records.front(), self.records.back()) {
            (Some(first), Some(last)) => first.index..last.index + 1,
            _ => 0..0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: usize) -> StepRecord<usize> {
        StepRecord {
            index,
            t: 1.0,
            t_next: 0.5,
            latent: 10 * index,
            velocity: 10 * index + 1,
            predicted_clean: 10 * index + 2,
        }
    }

    #[test]
    fn keeps_the_latest_steps_up_to_its_capacity() {
        let mut history = History::new(3);
        assert_eq!(history.kept(), 0..0);
        for index in 0..5 {
            history.push(record(index));
        }
        assert_eq!(history.kept(), 2..5);
        assert!(history.get(1).is_none());
        assert_eq!(*history.get(2).unwrap().latent(Show::Current), 20);
        assert_eq!(*history.get(4).unwrap().latent(Show::Velocity), 41);
        assert_eq!(*history.get(4).unwrap().latent(Show::PredictedClean), 42);
        assert!(history.get(5).is_none());
        history.clear();
        assert_eq!(history.kept(), 0..0);
    }

    #[test]
    fn a_history_of_nothing_keeps_nothing_and_the_limit_holds() {
        let mut history = History::new(0);
        history.push(record(0));
        assert!(history.get(0).is_none());
        assert_eq!(History::<usize>::new(1000).capacity(), HISTORY_LIMIT);
    }
}
