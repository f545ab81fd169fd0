//! What an instance takes from this machine beside its containers: the host
//! services local-prod runs natively ([`services`]), the consent that lets the
//! repository's commands run here ([`allow`]) and the prepare steps that run them
//! ([`prepare`]), the git-ignored files carried from the main clone
//! (`carry_ignored`), and the secrets' values kept between starts
//! ([`kept_secrets`]).

pub mod allow;
pub(super) mod carry_ignored;
pub mod kept_secrets;
pub mod prepare;
pub mod services;
