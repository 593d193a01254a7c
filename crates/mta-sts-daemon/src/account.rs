//! Users and groups named by the command line (`-u`, `-g`) and the configuration (`owner`,
//! `group`): looked up before anything is bound, so a typo stops the start with a clear message.

use nix::unistd::{Gid, Group, Uid, User};

/// A user or group that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// No such user name or id.
    #[error("no such user: {0}")]
    NoSuchUser(String),
    /// No such group name or id.
    #[error("no such group: {0}")]
    NoSuchGroup(String),
    /// The user or group database could not be read.
    #[error("cannot look up {name}: {source}")]
    Lookup {
        /// The name looked up.
        name: String,
        /// Why.
        source: nix::Error,
    },
}

/// A user by name, or by number when the name is all digits.
pub fn user(name: &str) -> Result<User, AccountError> {
    let lookup = |source| AccountError::Lookup {
        name: name.to_owned(),
        source,
    };
    let found = match name.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)).map_err(lookup)?,
        Err(_) => User::from_name(name).map_err(lookup)?,
    };
    found.ok_or_else(|| AccountError::NoSuchUser(name.to_owned()))
}

/// A group by name, or by number when the name is all digits.
pub fn group(name: &str) -> Result<Group, AccountError> {
    let lookup = |source| AccountError::Lookup {
        name: name.to_owned(),
        source,
    };
    let found = match name.parse::<u32>() {
        Ok(gid) => Group::from_gid(Gid::from_raw(gid)).map_err(lookup)?,
        Err(_) => Group::from_name(name).map_err(lookup)?,
    };
    found.ok_or_else(|| AccountError::NoSuchGroup(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(user("root").unwrap().uid.as_raw(), 0);
        assert_eq!(user("0").unwrap().name, "root");
        assert_eq!(group("0").unwrap().gid.as_raw(), 0);
        assert!(matches!(
            user("no-such-user-here"),
            Err(AccountError::NoSuchUser(_))
        ));
        assert!(matches!(
            group("no-such-group-here"),
            Err(AccountError::NoSuchGroup(_))
        ));
    }
}
