//! The decision step create, exec and update share: ask the policy engine, write the
//! audit record, and refuse or go ahead. A decision that cannot be recorded is not
//! acted on.

use anyhow::Result;

use crate::admission::{preserved_fds, Refused};
use crate::audit::{Digests, Entry};
use crate::config::{LoadedConfig, SeccompProfileName};
use crate::identity;
use crate::policy::input::{self, Operation, PolicyContext, Subject};
use crate::policy::{self};
use crate::seccomp_profiles;

/// Starts the audit record of one decision.
pub(super) fn entry(operation: Operation, container_id: &str, config: &LoadedConfig) -> Entry {
    Entry::new(
        operation,
        container_id,
        Digests {
            config: config.digest.clone(),
            seccomp_profile: None,
        },
    )
}

/// Starts the audit record of an exec or update decision on a created container.
pub(super) fn entry_for_container(
    operation: Operation,
    container_id: &str,
    config: &LoadedConfig,
    context: &PolicyContext,
) -> Entry {
    let mut audit = entry(operation, container_id, config);
    audit.context(&context.container, &context.image);
    if let Some(profile) = SeccompProfileName::parse(&context.seccomp_profile) {
        audit.seccomp_profile_digest(seccomp_profiles::digest(profile));
    }
    audit
}

/// Records a refusal made before the policy engine was asked (admission, baseline, a
/// spec that cannot be read) and returns the error to report.
pub(super) fn refused_before_policy(
    config: &LoadedConfig,
    audit: &Entry,
    error: anyhow::Error,
) -> anyhow::Error {
    match audit.write(&config.config.audit.path, Some(&format!("{error:#}"))) {
        Ok(()) => error,
        Err(audit_error) => error.context(audit_error.to_string()),
    }
}

/// Judges and records the descriptors `--preserve-fds` (and `LISTEN_FDS`) pass into the
/// container before anything is created for it: a refusal is recorded with the rule.
pub(super) fn admit_preserved_fds(
    config: &LoadedConfig,
    audit: &mut Entry,
    preserve_fds: i32,
) -> Result<()> {
    let fds = preserved_fds::inspect(preserved_fds::count(preserve_fds))
        .map_err(|error| refused_before_policy(config, audit, error.into()))?;
    audit.preserved_fds(&fds);
    let violations = preserved_fds::admit(&fds, &config.config.admission.preserve_fds);
    if violations.is_empty() {
        return Ok(());
    }
    audit.violations(&violations);
    Err(refused_before_policy(
        config,
        audit,
        Refused(violations).into(),
    ))
}

/// Asks the policy engine about `subject`, records the decision, and refuses if it
/// says no (or cannot say).
pub(super) fn decide(config: &LoadedConfig, mut audit: Entry, subject: &Subject) -> Result<()> {
    let agent = subject.context.agent.as_ref();
    if let Some(agent) = agent {
        audit.agent(agent);
    }
    if let Err(violation) = identity::still_valid(agent, &config.config.identity) {
        let violations = vec![violation];
        audit.violations(&violations);
        return Err(refused_before_policy(
            config,
            &audit,
            Refused(violations).into(),
        ));
    }
    let policy = &config.config.policy;
    let outcome = policy::decide(
        policy,
        &input::build(subject, &policy.trusted_agent_engines),
    );
    let refusal = outcome.refusal();
    audit.secrets(subject.secrets);
    audit.policy(outcome);
    audit.write(
        &config.config.audit.path,
        refusal.as_ref().map(ToString::to_string).as_deref(),
    )?;
    match refusal {
        Some(refusal) => Err(refusal.into()),
        None => Ok(()),
    }
}
