//! Settings from the environment: the optional env file, and clap errors
//! extended with the environment variable behind each flag. Operators mostly
//! configure the service through variables, but clap's messages name only
//! the flag.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use clap::builder::StyledStr;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use grpc_support::env_file;

/// Flag that names the env file.
pub const ENV_FILE_FLAG: &str = "--env-file";
/// Environment variable that names the env file when the flag is absent.
pub const ENV_FILE_VARIABLE: &str = "DEPOSIT_STATUS_ENV_FILE";

/// An env file named on the command line or in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    /// Path of the file of KEY=VALUE lines.
    pub path: PathBuf,
    /// The flag or variable that named the file, for messages.
    pub named_by: &'static str,
}

/// An env file whose variables are now in the process environment.
#[derive(Debug, Clone)]
pub struct LoadedEnvFile {
    /// The file.
    pub file: EnvFile,
    /// Names of the variables that the file set. A variable that was
    /// already set keeps its value and is not listed.
    pub variables: BTreeSet<OsString>,
}

/// An env file that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
#[error("failed to load the env file {path} (set by {named_by}): {reason}", path = .file.path.display(), named_by = .file.named_by)]
pub struct EnvFileError {
    /// The file.
    pub file: EnvFile,
    /// Description of the failure. It contains no text of the file but a
    /// variable name, because values may be secrets.
    pub reason: String,
}

impl EnvFile {
    /// Finds the env file named in `args` by `--env-file PATH` or
    /// `--env-file=PATH`, or else by `variable`, the value of
    /// [`ENV_FILE_VARIABLE`]. `args` excludes the program name.
    ///
    /// The file has to be loaded before clap parses the settings, because
    /// clap reads the environment variables while parsing. So this scan
    /// runs first, and it follows clap's rules for a global flag: the flag
    /// may come before or after the subcommand, and nothing after `--` is a
    /// flag. The first occurrence wins, because clap rejects a second one
    /// anyway.
    pub fn find(args: &[OsString], variable: Option<OsString>) -> Option<EnvFile> {
        let mut remaining = args.iter();
        while let Some(arg) = remaining.next() {
            if arg == "--" {
                break;
            }
            if arg == ENV_FILE_FLAG {
                return remaining.next().map(|path| EnvFile {
                    path: PathBuf::from(path),
                    named_by: ENV_FILE_FLAG,
                });
            }
            let inline_value = arg
                .to_str()
                .and_then(|text| text.strip_prefix(ENV_FILE_FLAG))
                .and_then(|rest| rest.strip_prefix('='));
            if let Some(path) = inline_value {
                return Some(EnvFile {
                    path: PathBuf::from(path),
                    named_by: ENV_FILE_FLAG,
                });
            }
        }
        variable.map(|path| EnvFile {
            path: PathBuf::from(path),
            named_by: ENV_FILE_VARIABLE,
        })
    }

    /// Loads the file's KEY=VALUE lines into the process environment.
    /// Variables that are already set keep their values.
    ///
    /// A line that fails to parse stops the load, but the lines before it
    /// are already set.
    pub fn load(self) -> Result<LoadedEnvFile, EnvFileError> {
        let before: BTreeSet<OsString> = std::env::vars_os().map(|(name, _)| name).collect();
        if let Err(error) = dotenvy::from_path(&self.path) {
            let reason = env_file::describe_dotenvy_error(&self.path, &error);
            return Err(EnvFileError { file: self, reason });
        }
        let variables = std::env::vars_os()
            .map(|(name, _)| name)
            .filter(|name| !before.contains(name))
            .collect();
        Ok(LoadedEnvFile {
            file: self,
            variables,
        })
    }
}

/// Adds a tip to a clap `error` for each reported flag that has an
/// environment variable. For a missing value the tip names both the flag and
/// the variable. For an invalid value that did not come from the flag in
/// `args`, it names the variable or the env file that set it.
///
/// `command` is the parser's command (for example from
/// `clap::CommandFactory::command`), searched with its subcommands for the
/// flags. `args` excludes the program name. Other errors are returned
/// unchanged.
pub fn name_variables_in_error(
    mut error: clap::Error,
    command: &clap::Command,
    args: &[OsString],
    env_file: Option<&LoadedEnvFile>,
) -> clap::Error {
    let reported = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => vec![arg.clone()],
        Some(ContextValue::Strings(args)) => args.clone(),
        _ => return error,
    };
    let mut tips = match error.get(ContextKind::Suggested) {
        Some(ContextValue::StyledStrs(tips)) => tips.clone(),
        _ => Vec::new(),
    };
    let tips_before = tips.len();

    for reported_arg in &reported {
        let Some(long) = long_flag_name(reported_arg) else {
            continue;
        };
        let Some(variable) = env_variable_of(command, long) else {
            continue;
        };
        let tip = match error.kind() {
            ErrorKind::MissingRequiredArgument => {
                Some(format!("set --{long} or the environment variable {variable}"))
            }
            ErrorKind::InvalidValue | ErrorKind::ValueValidation if !flag_given(args, long) => {
                value_source(&variable, env_file)
            }
            _ => None,
        };
        tips.extend(tip.map(StyledStr::from));
    }

    if tips.len() > tips_before {
        error.insert(ContextKind::Suggested, ContextValue::StyledStrs(tips));
    }
    error
}

/// Returns `name` from clap's rendering of an argument, `--name <VALUE>`.
fn long_flag_name(rendered: &str) -> Option<&str> {
    let flag = rendered.split_whitespace().next()?.strip_prefix("--")?;
    Some(flag.split('=').next().unwrap_or(flag))
}

/// Returns the environment variable of the flag `--long` in `command` or
/// one of its subcommands.
fn env_variable_of(command: &clap::Command, long: &str) -> Option<String> {
    let own = command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))
        .and_then(|arg| arg.get_env())
        .and_then(OsStr::to_str)
        .map(str::to_owned);
    own.or_else(|| {
        command
            .get_subcommands()
            .find_map(|subcommand| env_variable_of(subcommand, long))
    })
}

/// Returns whether `--long` appears in `args` before any `--`.
fn flag_given(args: &[OsString], long: &str) -> bool {
    let flag = format!("--{long}");
    let inline_prefix = format!("--{long}=");
    args.iter()
        .take_while(|arg| *arg != "--")
        .filter_map(|arg| arg.to_str())
        .any(|arg| arg == flag || arg.starts_with(&inline_prefix))
}

/// Returns a tip that names where the value of `variable` came from, or
/// `None` when the variable is not set.
fn value_source(variable: &str, env_file: Option<&LoadedEnvFile>) -> Option<String> {
    if let Some(loaded) = env_file.filter(|loaded| loaded.variables.contains(OsStr::new(variable))) {
        return Some(format!(
            "the value comes from {variable} in the env file {}",
            loaded.file.path.display()
        ));
    }
    std::env::var_os(variable)
        .is_some()
        .then(|| format!("the value comes from the environment variable {variable}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(values: &[&str]) -> Vec<OsString> {
        values.iter().map(OsString::from).collect()
    }

    fn flag_file(path: &str) -> Option<EnvFile> {
        Some(EnvFile {
            path: PathBuf::from(path),
            named_by: ENV_FILE_FLAG,
        })
    }

    #[test]
    fn env_file_flag_before_subcommand() {
        let found = EnvFile::find(&args(&["--env-file", "a.env", "serve"]), None);
        assert_eq!(found, flag_file("a.env"));
    }

    #[test]
    fn env_file_flag_after_subcommand() {
        let found = EnvFile::find(&args(&["serve", "--env-file", "a.env"]), None);
        assert_eq!(found, flag_file("a.env"));
    }

    #[test]
    fn env_file_flag_with_equals_sign() {
        let found = EnvFile::find(&args(&["serve", "--env-file=a=b.env"]), None);
        assert_eq!(found, flag_file("a=b.env"));
    }

    #[test]
    fn env_file_flag_wins_over_variable() {
        let found = EnvFile::find(&args(&["serve", "--env-file", "a.env"]), Some("b.env".into()));
        assert_eq!(found, flag_file("a.env"));
    }

    #[test]
    fn env_file_from_variable() {
        let found = EnvFile::find(&args(&["serve"]), Some("b.env".into()));
        assert_eq!(
            found,
            Some(EnvFile {
                path: PathBuf::from("b.env"),
                named_by: ENV_FILE_VARIABLE,
            })
        );
    }

    #[test]
    fn env_file_ignored_after_double_dash() {
        let found = EnvFile::find(&args(&["serve", "--", "--env-file", "a.env"]), None);
        assert_eq!(found, None);
    }

    #[test]
    fn env_file_flag_without_value() {
        let found = EnvFile::find(&args(&["serve", "--env-file"]), None);
        assert_eq!(found, None);
    }

    #[test]
    fn long_flag_name_from_rendering() {
        assert_eq!(
            long_flag_name("--attestation-lifetime-secs <ATTESTATION_LIFETIME_SECS>"),
            Some("attestation-lifetime-secs")
        );
        assert_eq!(
            long_flag_name("--allow-business-date-override"),
            Some("allow-business-date-override")
        );
        assert_eq!(long_flag_name("<PATH>"), None);
    }

    #[test]
    fn flag_given_forms() {
        assert!(flag_given(&args(&["serve", "--listen-addr", "x"]), "listen-addr"));
        assert!(flag_given(&args(&["serve", "--listen-addr=x"]), "listen-addr"));
        assert!(!flag_given(
            &args(&["serve", "--listen-address=x"]),
            "listen-addr"
        ));
        assert!(!flag_given(
            &args(&["serve", "--", "--listen-addr"]),
            "listen-addr"
        ));
    }
}
