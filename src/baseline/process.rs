//! The baseline's rewrites of a process (the init process and every exec'd one):
//! capabilities, no-new-privileges, the non-root user and its groups, AppArmor, core
//! dumps and the OOM score.

use libcontainer::oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilities, PosixRlimit, PosixRlimitBuilder, PosixRlimitType,
    Process, User,
};

use super::{record, Baseline, BaselineError, Change};
use crate::config::NonRootMode;
use crate::image_groups::RootGroups;

impl Baseline<'_> {
    /// Hardens one process: the init process, and every exec'd process. `root_groups`
    /// are the supplementary groups the container's image gives root.
    pub fn apply_to_process(
        &self,
        process: &mut Process,
        root_groups: &RootGroups,
    ) -> Result<Vec<Change>, BaselineError> {
        let mut changes = Vec::new();

        let capabilities = self.allowed_capabilities(process.capabilities().as_ref());
        record(
            &mut changes,
            "capabilities",
            "process.capabilities",
            process.capabilities(),
            &Some(capabilities.clone()),
            "all capabilities are dropped except the host config's allowed_capabilities",
        );
        process.set_capabilities(Some(capabilities));

        record(
            &mut changes,
            "no-new-privileges",
            "process.noNewPrivileges",
            &process.no_new_privileges(),
            &Some(true),
            "setuid binaries and file capabilities never raise privileges",
        );
        process.set_no_new_privileges(Some(true));

        let user = self.non_root_user(process.user(), root_groups)?;
        record(
            &mut changes,
            "non-root",
            "process.user",
            process.user(),
            &user,
            match root_groups {
                RootGroups::Unknown(_) if process.user().uid() == 0 => {
                    "uid/gid 0 run as the configured non-root user; the image's group file \
                     is unreadable, so no supplementary group of root's is kept"
                }
                _ => {
                    "uid/gid 0 run as the configured non-root user, without root's \
                     supplementary groups from the image; gid 0 is no supplementary group"
                }
            },
        );
        process.set_user(user);

        let apparmor = self.apparmor_profile()?;
        record(
            &mut changes,
            "apparmor",
            "process.apparmorProfile",
            process.apparmor_profile(),
            &apparmor,
            if apparmor.is_some() {
                "every process runs under bulwark's AppArmor profile"
            } else {
                "this kernel has no AppArmor; the host config accepts running without it"
            },
        );
        process.set_apparmor_profile(apparmor);

        let rlimits = without_core_dumps(process.rlimits().as_deref());
        record(
            &mut changes,
            "core-dumps",
            "process.rlimits",
            process.rlimits(),
            &Some(rlimits.clone()),
            "RLIMIT_CORE 0: a crashing process leaves no memory image on disk",
        );
        process.set_rlimits(Some(rlimits));

        if let Some(adj) = process.oom_score_adj().filter(|adj| *adj < 0) {
            record(
                &mut changes,
                "oom-score",
                "process.oomScoreAdj",
                &Some(adj),
                &Some(0),
                "an untrusted workload is never shielded from the OOM killer",
            );
            process.set_oom_score_adj(Some(0));
        }
        Ok(changes)
    }

    /// The capabilities the host config allows (`baseline.allowed_capabilities`).
    pub(super) fn allowed_capability_set(&self) -> Capabilities {
        self.config
            .allowed_capabilities
            .iter()
            .filter_map(|name| name.strip_prefix("CAP_")?.parse::<Capability>().ok())
            .collect()
    }

    /// Every set holds the requested capabilities the host config allows, and nothing
    /// else. The allowed ones go into all five sets (ambient included) so that a
    /// non-root process keeps them across execve.
    fn allowed_capabilities(&self, requested: Option<&LinuxCapabilities>) -> LinuxCapabilities {
        let allowed = self.allowed_capability_set();
        let requested: Capabilities = requested
            .map(|caps| {
                [caps.bounding(), caps.effective(), caps.permitted()]
                    .into_iter()
                    .flatten()
                    .flatten()
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        let kept: Capabilities = requested.intersection(&allowed).copied().collect();
        let mut caps = LinuxCapabilities::default();
        caps.set_bounding(Some(kept.clone()));
        caps.set_effective(Some(kept.clone()));
        caps.set_permitted(Some(kept.clone()));
        caps.set_inheritable(Some(kept.clone()));
        caps.set_ambient(Some(kept));
        caps
    }

    fn non_root_user(&self, user: &User, root_groups: &RootGroups) -> Result<User, BaselineError> {
        let ids = &self.config.non_root;
        let refuse = ids.mode == NonRootMode::Refuse;
        let mut user = user.clone();
        if user.uid() == 0 && refuse {
            return Err(BaselineError::RootRefused {
                path: "process.user.uid",
            });
        }
        if user.gid() == 0 {
            if refuse {
                return Err(BaselineError::RootRefused {
                    path: "process.user.gid",
                });
            }
            user.set_gid(ids.gid);
        }
        let remapped_root = user.uid() == 0;
        if remapped_root {
            user.set_uid(ids.uid);
        }
        // The engine added root's groups from the image (issue #16 item 9: busybox's
        // `wheel`); the remapped process is not root and keeps only the groups the
        // caller named by number.
        let keep = |gid: &u32| *gid != 0 && (!remapped_root || root_groups.keeps(*gid));
        if let Some(gids) = user.additional_gids().clone() {
            user.set_additional_gids(Some(gids.into_iter().filter(keep).collect()));
        }
        Ok(user)
    }

    pub(super) fn apparmor_profile(&self) -> Result<Option<String>, BaselineError> {
        let profile = &self.config.apparmor.profile;
        if !self.host.apparmor_enabled {
            return if self.config.apparmor.allow_missing {
                Ok(None)
            } else {
                Err(BaselineError::AppArmorMissing {
                    profile: profile.clone(),
                })
            };
        }
        if !self.host.apparmor_profiles.contains(profile) {
            return Err(BaselineError::AppArmorNotLoaded {
                profile: profile.clone(),
            });
        }
        Ok(Some(profile.clone()))
    }
}

fn without_core_dumps(rlimits: Option<&[PosixRlimit]>) -> Vec<PosixRlimit> {
    let mut rlimits: Vec<PosixRlimit> = rlimits
        .unwrap_or_default()
        .iter()
        .filter(|r| r.typ() != PosixRlimitType::RlimitCore)
        .cloned()
        .collect();
    let core = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitCore)
        .soft(0u64)
        .hard(0u64)
        .build()
        .expect("a complete rlimit");
    rlimits.push(core);
    rlimits
}
