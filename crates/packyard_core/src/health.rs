//! The instance's readiness checks: what `/-/readiness` answers and the administration page shows.

use crate::Core;

/// One readiness check and its outcome.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// Passed.
    pub ok: bool,
    /// What failed, in a sentence fit for an operator (the cause is logged, not shown).
    pub problem: Option<&'static str>,
}

/// Every check, in the order they run.
#[derive(Debug, Clone)]
pub struct Readiness {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Readiness {
    /// Ready when every check passed.
    pub fn is_ready(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// The first failed check's problem.
    pub fn first_problem(&self) -> Option<&'static str> {
        self.checks.iter().find_map(|c| c.problem)
    }
}

impl Core {
    /// Runs the readiness checks: the database answers, and the blob store takes writes.
    pub async fn readiness(&self) -> Readiness {
        let database = match self.db.run(packyard_db::queries::ping).await {
            Ok(()) => None,
            Err(error) => {
                tracing::warn!(%error, "readiness check failed");
                Some("database unavailable")
            }
        };
        let storage = match self.blobs.check_writable().await {
            Ok(()) => None,
            Err(error) => {
                tracing::warn!(%error, "readiness check failed");
                Some("storage takes no writes")
            }
        };
        let check = |name, problem: Option<&'static str>| Check {
            name,
            ok: problem.is_none(),
            problem,
        };
        Readiness {
            checks: vec![check("database", database), check("storage", storage)],
        }
    }
}
