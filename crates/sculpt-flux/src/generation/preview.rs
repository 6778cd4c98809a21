//! How a run's steps are drawn: the setting every surface offers (the CLI's
//! `--preview`, the protocol's `preview`, the widget's attribute) and the
//! decoder it picks for each frame.

use serde::{Deserialize, Serialize};

/// Which decoder turns a latent into a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decode {
    /// The autoencoder's decoder: the image itself.
    Full,
    /// The model's preview decoder ([`crate::models::preview`]), where it
    /// has one; else the full decoder.
    Preview,
}

/// How the steps before the last are drawn. The last step, and any frame
/// asked for on its own, are always decoded in full, so the image is the
/// same either way. Where nothing is said (an older page's messages), every
/// step is decoded in full as before; the generator page and the widget ask
/// for `Fast`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preview {
    /// By the preview decoder: a step drawn for almost nothing.
    Fast,
    /// By the full decoder: every step as the image it would be.
    #[default]
    Full,
}

impl Preview {
    /// The decoder for a step's frame; `last` for the run's final step.
    pub fn decode_for_step(self, last: bool) -> Decode {
        match self {
            Preview::Fast if !last => Decode::Preview,
            _ => Decode::Full,
        }
    }
}

impl std::str::FromStr for Preview {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "fast" => Ok(Preview::Fast),
            "full" => Ok(Preview::Full),
            other => Err(format!(
                "preview '{other}': say fast (steps drawn by the preview decoder) or full \
                 (every step decoded in full)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_step_is_always_decoded_in_full() {
        assert_eq!(Preview::Fast.decode_for_step(false), Decode::Preview);
        assert_eq!(Preview::Fast.decode_for_step(true), Decode::Full);
        assert_eq!(Preview::Full.decode_for_step(false), Decode::Full);
        assert_eq!("full".parse::<Preview>(), Ok(Preview::Full));
        assert!("quick".parse::<Preview>().unwrap_err().contains("'quick'"));
        assert_eq!(serde_json::to_string(&Preview::Fast).unwrap(), "\"fast\"");
    }
}
