//! A model opened on a backend, ready to start generations: the one
//! interface the CLI, the eval and the browser's engine generate through.

use super::{Backend, Frame, Generation, StepInfo};
use crate::family::{Family, ModelConfigs};
use crate::pipeline::{GenerateRequest, ModelDefaults, PipelineError};

// See `Backend`: these futures stay on one thread.
#[allow(async_fn_in_trait)]
pub trait Pipeline {
    /// The backend a generation runs on. It shares the loaded models with
    /// the pipeline rather than borrowing them, so that a surface can keep
    /// a run between messages (the visualizer steps and scrubs one).
    type Backend: Backend;

    fn defaults(&self) -> &ModelDefaults;

    /// The family the model's parts make up.
    fn family(&self) -> &Family;

    /// Each part's configuration, checked against the family.
    fn configs(&self) -> &ModelConfigs;

    /// Checks the request, encodes the prompt, loads what the run needs and
    /// prepares its first step.
    async fn start(
        &mut self,
        request: &GenerateRequest,
    ) -> Result<Generation<Self::Backend>, PipelineError>;

    /// Runs a whole generation, calling `on_step` after every step (it can
    /// draw the step with [`Generation::frame`]), and returns the image.
    async fn generate(
        &mut self,
        request: &GenerateRequest,
        mut on_step: impl FnMut(&Generation<Self::Backend>, &StepInfo) -> Result<(), PipelineError>,
    ) -> Result<Frame, PipelineError> {
        let mut generation = self.start(request).await?;
        while let Some(step) = generation.step()? {
            on_step(&generation, &step)?;
        }
        generation.finish().await
    }
}
