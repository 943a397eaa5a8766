//! Reading variables: where they come from ([`EnvSource`]) and a reader that records every
//! problem instead of stopping at the first ([`Reader`]).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::path::Path;
use std::str::FromStr;

use secrecy::SecretString;
use url::Url;

use super::rules;
use super::{Environment, Origin, Problem, Problems, VARIABLES};

/// The variables the configuration is read from: only those in [`VARIABLES`].
#[derive(Debug, Clone, Default)]
pub struct EnvSource {
    vars: BTreeMap<String, String>,
    dotenv_loaded: Option<String>,
    /// Problems found while reading (undecodable values, a misplaced FINDASH_ENV).
    problems: Vec<Problem>,
}

impl EnvSource {
    /// A source made of exactly these variables (tests).
    #[cfg(test)]
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> EnvSource {
        EnvSource {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ..EnvSource::default()
        }
    }

    /// The process environment, plus `dir/.env` for variables the process does not set, unless
    /// `FINDASH_ENV` is staging or production (deployed config never comes from a file in the
    /// working directory). Variables the configuration does not read are ignored, whatever
    /// their encoding; the process environment is never modified.
    pub fn from_process(dir: &Path) -> EnvSource {
        let mut source = EnvSource::default();
        for (key, value) in std::env::vars_os() {
            let Some(var) = key.to_str().and_then(known) else {
                continue;
            };
            match value.into_string() {
                Ok(value) => {
                    source.vars.insert(var.to_owned(), value);
                }
                Err(_) => source.problem(var, "is not valid UTF-8"),
            }
        }
        let deployed = source
            .vars
            .get("FINDASH_ENV")
            .is_some_and(|e| is_deployed(e));
        let path = dir.join(".env");
        if !deployed && path.is_file() {
            source.load_dotenv(&path);
        }
        source
    }

    fn load_dotenv(&mut self, path: &Path) {
        let entries = match dotenvy::from_path_iter(path) {
            Ok(entries) => entries,
            Err(e) => {
                return self.problem(
                    "FINDASH_ENV",
                    format!("cannot read {}: {e}", path.display()),
                );
            }
        };
        for entry in entries {
            match entry {
                Ok((key, value)) => {
                    let Some(var) = known(&key) else { continue };
                    if var == "FINDASH_ENV" && is_deployed(&value) && !self.vars.contains_key(var) {
                        self.problem(
                            var,
                            format!(
                                "{value} must come from the process environment, not from {}",
                                path.display()
                            ),
                        );
                        continue;
                    }
                    self.vars.entry(var.to_owned()).or_insert(value);
                }
                Err(e) => {
                    return self.problem(
                        "FINDASH_ENV",
                        format!("{} is malformed: {e}", path.display()),
                    );
                }
            }
        }
        self.dotenv_loaded = Some(path.display().to_string());
    }

    fn problem(&mut self, var: &'static str, message: impl Into<String>) {
        self.problems.push(Problem {
            var,
            message: message.into(),
        });
    }

    fn get(&self, name: &str) -> Option<&str> {
        // An empty value is the same as an unset one (`FOO=` in a .env file).
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

fn known(name: &str) -> Option<&'static str> {
    VARIABLES.iter().copied().find(|v| *v == name)
}

fn is_deployed(env: &str) -> bool {
    env.trim()
        .parse::<Environment>()
        .is_ok_and(Environment::is_deployed)
}

/// Reads variables, collecting problems, origins and notes.
pub(super) struct Reader<'a> {
    source: &'a EnvSource,
    env: Environment,
    problems: Vec<Problem>,
    origins: BTreeMap<&'static str, Origin>,
    notes: Vec<String>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(source: &'a EnvSource) -> Reader<'a> {
        let mut notes = Vec::new();
        if let Some(path) = &source.dotenv_loaded {
            notes.push(format!("loaded variables from {path}"));
        }
        Reader {
            source,
            env: Environment::Development,
            problems: source.problems.clone(),
            origins: BTreeMap::new(),
            notes,
        }
    }

    pub(super) fn set_environment(&mut self, env: Environment) {
        self.env = env;
    }

    pub(super) fn problem(&mut self, var: &'static str, message: impl Into<String>) {
        self.problems.push(Problem {
            var,
            message: message.into(),
        });
    }

    fn get(&mut self, var: &'static str) -> Option<&'a str> {
        debug_assert!(VARIABLES.contains(&var), "{var} is missing from VARIABLES");
        let value = self.source.get(var);
        self.origins.insert(
            var,
            if value.is_some() {
                Origin::Set
            } else {
                Origin::Unset
            },
        );
        value
    }

    fn defaulted(&mut self, var: &'static str) {
        self.origins.insert(var, Origin::Default);
    }

    fn require_when_deployed(&mut self, var: &'static str, why: &str) {
        if self.env.is_deployed() {
            self.problem(var, format!("is required in {}: {why}", self.env.as_str()));
        }
    }

    pub(super) fn mark_passthrough(&mut self, var: &'static str) {
        let _ = self.get(var);
    }

    pub(super) fn parse<T>(&mut self, var: &'static str, default: T) -> T
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(var) {
            None => {
                self.defaulted(var);
                default
            }
            Some(raw) => raw.trim().parse().unwrap_or_else(|e| {
                self.problem(var, format!("cannot parse `{raw}`: {e}"));
                default
            }),
        }
    }

    pub(super) fn parse_in<T>(
        &mut self,
        var: &'static str,
        default: T,
        range: RangeInclusive<T>,
    ) -> T
    where
        T: FromStr + PartialOrd + Display + Copy,
        T::Err: Display,
    {
        let value = self.parse(var, default);
        if !range.contains(&value) {
            self.problem(
                var,
                format!("{value} is outside {}..={}", range.start(), range.end()),
            );
        }
        value
    }

    /// A URL with one of `schemes`. Messages never include the value: URLs carry passwords.
    pub(super) fn url(
        &mut self,
        var: &'static str,
        default: Option<&str>,
        schemes: &[&str],
    ) -> Option<Url> {
        let raw = match (self.get(var), default) {
            (Some(raw), _) => raw,
            (None, Some(default)) => {
                self.defaulted(var);
                return Url::parse(default).ok();
            }
            (None, None) => return None,
        };
        match Url::parse(raw.trim()) {
            Ok(url) if schemes.contains(&url.scheme()) && url.has_host() => Some(url),
            Ok(url) if !url.has_host() => {
                self.problem(var, "the URL has no host");
                None
            }
            Ok(url) => {
                self.problem(
                    var,
                    format!(
                        "scheme `{}` is not one of {}",
                        url.scheme(),
                        schemes.join(", ")
                    ),
                );
                None
            }
            Err(e) => {
                self.problem(var, format!("not a valid URL ({e})"));
                None
            }
        }
    }

    /// Like [`Reader::url`], and a problem when a deployed environment leaves it unset.
    pub(super) fn required_url(
        &mut self,
        var: &'static str,
        default: Option<&str>,
        schemes: &[&str],
    ) -> Option<Url> {
        let url = self.url(var, default, schemes);
        if url.is_none() && self.get(var).is_none() {
            self.require_when_deployed(var, "it has no default outside development and test");
        }
        url
    }

    /// An HMAC secret: required (or generated for development) when `required`.
    pub(super) fn signing_secret(
        &mut self,
        var: &'static str,
        required: bool,
    ) -> Option<SecretString> {
        match self.get(var).map(str::trim) {
            Some(value) => {
                if let Some(why) = rules::weakness(value) {
                    self.problem(var, format!("is too weak: {why}"));
                }
                Some(SecretString::from(value.to_owned()))
            }
            None if !required => None,
            None if self.env.is_deployed() => {
                self.require_when_deployed(var, "it signs API tokens");
                None
            }
            None => {
                self.origins.insert(var, Origin::Generated);
                self.notes.push(format!(
                    "{var} is not set: generated an ephemeral one for this {} process; tokens it \
                     signs die with the process",
                    self.env.as_str()
                ));
                Some(rules::generate_secret())
            }
        }
    }

    /// `ENCRYPTION_KEY`: base64 of exactly 32 random bytes.
    pub(super) fn encryption_key(&mut self, var: &'static str) -> Option<SecretString> {
        match self.get(var) {
            Some(value) => {
                if let Err(why) = rules::check_encryption_key(value) {
                    self.problem(var, why);
                }
                Some(SecretString::from(value.trim().to_owned()))
            }
            None if self.env.is_deployed() => {
                self.require_when_deployed(var, "it seals provider credentials at rest");
                None
            }
            None => {
                self.origins.insert(var, Origin::Generated);
                self.notes.push(format!(
                    "{var} is not set: generated an ephemeral key for this {} process; provider \
                     credentials it seals cannot be opened by the next one",
                    self.env.as_str()
                ));
                Some(rules::generate_encryption_key())
            }
        }
    }

    /// `ENCRYPTION_KEY_PREVIOUS`: comma-separated keys of the same form as `ENCRYPTION_KEY`,
    /// none equal to `current`.
    pub(super) fn previous_encryption_keys(
        &mut self,
        var: &'static str,
        current: Option<&SecretString>,
    ) -> Vec<SecretString> {
        let Some(value) = self.get(var) else {
            return Vec::new();
        };
        let mut keys = Vec::new();
        let mut problems = Vec::new();
        for (i, key) in value
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .enumerate()
        {
            if let Err(why) = rules::check_encryption_key(key) {
                problems.push(format!("key #{}: {why}", i + 1));
            } else if current.is_some_and(|c| secrecy::ExposeSecret::expose_secret(c).trim() == key)
            {
                problems.push(format!(
                    "key #{} equals ENCRYPTION_KEY; list only the keys being rotated out",
                    i + 1
                ));
            }
            keys.push(SecretString::from(key.to_owned()));
        }
        for problem in problems {
            self.problem(var, problem);
        }
        keys
    }

    /// An optional secret that, when set, must start with `prefix` and not be weak.
    pub(super) fn prefixed_secret(
        &mut self,
        var: &'static str,
        prefix: &str,
    ) -> Option<SecretString> {
        let value = self.plain_secret(var)?;
        if !secrecy::ExposeSecret::expose_secret(&value).starts_with(prefix) {
            self.problem(var, format!("must start with `{prefix}`"));
        }
        Some(value)
    }

    /// An optional secret; deployed environments refuse short ones.
    pub(super) fn plain_secret(&mut self, var: &'static str) -> Option<SecretString> {
        let value = self.get(var)?.trim();
        if self.env.is_deployed() && value.len() < rules::MIN_WEBHOOK_SECRET_LEN {
            self.problem(
                var,
                format!(
                    "is too weak: shorter than {} characters",
                    rules::MIN_WEBHOOK_SECRET_LEN
                ),
            );
        }
        Some(SecretString::from(value.to_owned()))
    }

    /// Two variables that are set together or not at all.
    pub(super) fn credential_pair(
        &mut self,
        id_var: &'static str,
        secret_var: &'static str,
    ) -> Option<findash_jobs::ProviderCredentials> {
        match (self.get(id_var), self.get(secret_var)) {
            (Some(id), Some(secret)) => Some(findash_jobs::ProviderCredentials {
                id: SecretString::from(id.trim().to_owned()),
                secret: SecretString::from(secret.trim().to_owned()),
            }),
            (None, None) => None,
            (Some(_), None) => {
                self.problem(secret_var, format!("is required when {id_var} is set"));
                None
            }
            (None, Some(_)) => {
                self.problem(id_var, format!("is required when {secret_var} is set"));
                None
            }
        }
    }

    pub(super) fn sentry_dsn(&mut self, var: &'static str) -> Option<SecretString> {
        let url = self.url(var, None, &["http", "https"])?;
        if url.username().is_empty() || url.path().trim_matches('/').is_empty() {
            self.problem(
                var,
                "a DSN looks like https://<public key>@<host>/<project id>",
            );
        }
        Some(SecretString::from(String::from(url)))
    }

    /// An optional file that must exist (read by the process later).
    pub(super) fn existing_file(&mut self, var: &'static str) -> Option<std::path::PathBuf> {
        let path = std::path::PathBuf::from(self.get(var)?.trim());
        if !path.is_file() {
            self.problem(var, format!("{} is not a readable file", path.display()));
        }
        Some(path)
    }

    /// A mailbox such as `FinDash <no-reply@example.com>` or a bare address.
    pub(super) fn mailbox(&mut self, var: &'static str, default: Option<&str>) -> String {
        let value = match (self.get(var), default) {
            (Some(value), _) => value.trim().to_owned(),
            (None, Some(default)) => {
                self.defaulted(var);
                return default.to_owned();
            }
            (None, None) => {
                self.require_when_deployed(var, "emails need a sender");
                return String::new();
            }
        };
        let address = value
            .rsplit_once('<')
            .map_or(value.as_str(), |(_, a)| a.trim_end_matches('>'));
        if !rules::looks_like_email(address) {
            self.problem(var, "is not a mailbox like `Name <address@example.com>`");
        }
        value
    }

    pub(super) fn email(&mut self, var: &'static str, default: &str) -> String {
        match self.get(var) {
            Some(value) if rules::looks_like_email(value.trim()) => value.trim().to_lowercase(),
            Some(_) => {
                self.problem(var, "is not an email address");
                default.to_owned()
            }
            None => {
                self.defaulted(var);
                default.to_owned()
            }
        }
    }

    pub(super) fn admin_password(&mut self, var: &'static str) -> Option<SecretString> {
        let value = self.get(var)?;
        let min = findash_schema::passwords::MIN_LENGTH;
        if value.chars().count() < min {
            if self.env.is_deployed() {
                self.problem(var, format!("is too weak: shorter than {min} characters"));
            } else {
                self.notes.push(format!("{var} is shorter than {min} characters; fine for a laptop, refused in production"));
            }
        }
        Some(SecretString::from(value.to_owned()))
    }

    pub(super) fn finish(self) -> Result<(BTreeMap<&'static str, Origin>, Vec<String>), Problems> {
        if self.problems.is_empty() {
            Ok((self.origins, self.notes))
        } else {
            Err(Problems(self.problems))
        }
    }
}
