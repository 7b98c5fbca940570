//! Database URLs with their passwords removed, for logs and error messages.
//!
//! Passwords in URLs are often not percent-encoded, so a password may
//! contain `/`, `@`, `?`, `#` or `:`. The userinfo therefore runs to the last
//! `@` of the URL, not to the first `/`. Where the text does not parse as
//! expected, more than the password is hidden rather than less.

/// Text that replaces a hidden value.
const REDACTED: &str = "***";

/// Returns `url` with the password replaced by `***`, for logs and error
/// messages. No part of the password is kept, whatever the input.
///
/// - Query parameters whose name contains `password` (`password`,
///   `sslpassword`, percent-encoded or not) keep their name only. Each
///   value is hidden up to the next `&`.
/// - `scheme://USER:PASSWORD@HOST...` keeps USER and everything after the
///   last `@`. A USER with characters that a user name in a URL cannot
///   contain unencoded (`/`, `?`, `#`, `@`, `[`, `]`, spaces, non-ASCII)
///   is hidden too.
/// - A URL without `@` whose port is empty or not a number, such as
///   `postgres://bank:secret/db`, keeps only its scheme.
/// - Text without a `scheme://` prefix that contains `@` or `password`
///   keeps only its scheme.
pub fn redact_password(url: &str) -> String {
    let scheme_end = url
        .find("://")
        .filter(|&index| is_scheme(&url[..index]))
        .map(|index| index + 3);
    let Some(scheme_end) = scheme_end else {
        return redact_without_authority(url);
    };
    let (scheme, rest) = url.split_at(scheme_end);

    // Query passwords go first, so that an `@` in one of them is not taken
    // for the end of the userinfo.
    let rest = redact_query_passwords(rest);
    match rest.rfind('@') {
        Some(at) => format!("{scheme}{}{}", redact_userinfo(&rest[..at]), &rest[at..]),
        None if has_invalid_port(&rest) => format!("{scheme}{REDACTED}"),
        None => format!("{scheme}{rest}"),
    }
}

/// Returns the userinfo with the password hidden: `USER:***` when USER is a
/// plain user name, the unchanged userinfo when it is a plain user name
/// without a password, and `***` otherwise.
fn redact_userinfo(userinfo: &str) -> String {
    match userinfo.split_once(':') {
        Some((user, _password)) if is_plain_user(user) => format!("{user}:{REDACTED}"),
        None if is_plain_user(userinfo) => userinfo.to_owned(),
        _ => REDACTED.to_owned(),
    }
}

/// Returns whether `user` contains only characters that RFC 3986 allows
/// unencoded in userinfo: letters, digits, `-._~`, `%` escapes and the
/// sub-delimiters `!$&'()*+,;=`.
fn is_plain_user(user: &str) -> bool {
    user.bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&byte))
}

/// Returns whether the authority at the start of `rest` (a URL after its
/// `://`, without userinfo) has a port that is empty or not a number. A
/// password written without a user name or `@` would be read as such a
/// port.
fn has_invalid_port(rest: &str) -> bool {
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let port = match authority.strip_prefix('[') {
        // An IPv6 literal: the port, if any, follows the closing bracket.
        Some(literal) => literal
            .split_once(']')
            .map_or(Some(""), |(_, after)| after.strip_prefix(':')),
        None => authority.rsplit_once(':').map(|(_, port)| port),
    };
    port.is_some_and(|port| port.is_empty() || !port.bytes().all(|byte| byte.is_ascii_digit()))
}

/// Hides the value of every parameter after a `?` or `&` whose name
/// contains "password", up to the next `&`. The parameters are looked for
/// in the whole text, because an unencoded password can contain `?`.
fn redact_query_passwords(text: &str) -> String {
    let mut redacted = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(delimiter) = rest.find(['?', '&']) {
        let (before, parameter) = rest.split_at(delimiter + 1);
        redacted.push_str(before);
        rest = parameter;

        let name_end = parameter.find(['=', '&', '?']).unwrap_or(parameter.len());
        if parameter[name_end..].starts_with('=') && is_password_parameter(&parameter[..name_end]) {
            redacted.push_str(&parameter[..=name_end]);
            redacted.push_str(REDACTED);
            let value = &parameter[name_end + 1..];
            rest = &value[value.find('&').unwrap_or(value.len())..];
        }
    }
    redacted.push_str(rest);
    redacted
}

/// Returns whether a query parameter name, once percent-decoded, contains
/// "password" in any letter case.
fn is_password_parameter(name: &str) -> bool {
    percent_decode(name)
        .to_ascii_lowercase()
        .windows(b"password".len())
        .any(|window| window == b"password")
}

/// Decodes `%XY` escapes and `+`, leaving malformed escapes as they are.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[index]) {
            (Some(byte), _) => {
                decoded.push(byte);
                index += 3;
            }
            (None, b'+') => {
                decoded.push(b' ');
                index += 1;
            }
            (None, byte) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    decoded
}

/// Redacts text without a `scheme://` prefix, such as `sqlite:bank.db` or
/// a mistyped URL:
/// when it contains `@` or "password", only a leading scheme is kept.
fn redact_without_authority(text: &str) -> String {
    let suspicious = text.contains('@') || text.to_ascii_lowercase().contains("password");
    if !suspicious {
        return text.to_owned();
    }
    match text.split_once(':') {
        Some((scheme, _)) if is_scheme(scheme) => format!("{scheme}:{REDACTED}"),
        _ => REDACTED.to_owned(),
    }
}

/// Returns whether `text` is a URL scheme: a letter, then letters, digits,
/// `+`, `-` or `.` (RFC 3986, section 3.1).
fn is_scheme(text: &str) -> bool {
    let mut bytes = text.bytes();
    bytes.next().is_some_and(|first| first.is_ascii_alphabetic())
        && bytes.all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_password_hides_only_password() {
        assert_eq!(
            redact_password("postgres://bank:secret@db:5432/bank?sslmode=require"),
            "postgres://bank:***@db:5432/bank?sslmode=require"
        );
        assert_eq!(
            redact_password("postgresql://bank:secret@[::1]:5432/bank"),
            "postgresql://bank:***@[::1]:5432/bank"
        );
        assert_eq!(
            redact_password("postgres://bank%40corp:secret@db/bank"),
            "postgres://bank%40corp:***@db/bank"
        );
        assert_eq!(
            redact_password("postgres://:secret@db/bank"),
            "postgres://:***@db/bank"
        );
    }

    #[test]
    fn redact_password_keeps_urls_without_password() {
        for url in [
            "postgres://bank@db/bank",
            "postgres://db:5432/bank",
            "postgres://[::1]:5432/bank?sslmode=disable",
            "sqlite://bank.db",
            "sqlite:///var/lib/bank/deposit-status.db?mode=rwc",
            "sqlite::memory:",
            "sqlite:bank.db",
            "",
        ] {
            assert_eq!(redact_password(url), url);
        }
    }

    #[test]
    fn redact_password_with_slash_and_at_sign() {
        assert_eq!(
            redact_password("postgres://bank:x/y@z@postgres:5432/deposit_status"),
            "postgres://bank:***@postgres:5432/deposit_status"
        );
        assert_eq!(
            redact_password("postgres://bank:Str0ng#p@ss/w%rd@postgres:5432/deposit_status"),
            "postgres://bank:***@postgres:5432/deposit_status"
        );
        assert_eq!(
            redact_password("postgres://bank:a?b:c@db/bank"),
            "postgres://bank:***@db/bank"
        );
    }

    #[test]
    fn redact_password_hides_unusual_user() {
        // The user part has characters that a user name in a URL has only
        // percent-encoded, so it may be part of the password.
        assert_eq!(
            redact_password("postgres://ba/nk:pw@db/bank"),
            "postgres://***@db/bank"
        );
        assert_eq!(
            redact_password("postgres://bank@x:y@db/bank"),
            "postgres://***@db/bank"
        );
        assert_eq!(
            redact_password("postgres://pass/word@db/bank"),
            "postgres://***@db/bank"
        );
        assert_eq!(
            redact_password("postgres://密码:pw@db/bank"),
            "postgres://***@db/bank"
        );
    }

    #[test]
    fn redact_password_hides_query_passwords() {
        assert_eq!(
            redact_password("postgres://bank@db/bank?sslmode=require&password=secret"),
            "postgres://bank@db/bank?sslmode=require&password=***"
        );
        assert_eq!(
            redact_password("postgres://db/bank?PassWord=secret&sslpassword=key&user=bank"),
            "postgres://db/bank?PassWord=***&sslpassword=***&user=bank"
        );
        assert_eq!(
            redact_password("postgres://db/bank?pass%77ord=secret"),
            "postgres://db/bank?pass%77ord=***"
        );
        assert_eq!(
            redact_password("postgres://bank@db/bank?password=p@ss/w?rd#x"),
            "postgres://bank@db/bank?password=***"
        );
        assert_eq!(
            redact_password("postgres://bank:x/y@z@db/bank?password=x/y@z"),
            "postgres://bank:***@db/bank?password=***"
        );
    }

    #[test]
    fn redact_password_hides_malformed_authority() {
        assert_eq!(redact_password("postgres://bank:secret/db"), "postgres://***");
        assert_eq!(redact_password("postgres://bank:se/cret"), "postgres://***");
        assert_eq!(redact_password("postgres://bank:secret"), "postgres://***");
        assert_eq!(redact_password("postgres://bank:/secret"), "postgres://***");
        assert_eq!(redact_password("postgres://bank:?secret"), "postgres://***");
        assert_eq!(redact_password("postgres://bank:[::1]"), "postgres://***");
        assert_eq!(redact_password("postgres://[::1]:secret/db"), "postgres://***");
    }

    #[test]
    fn redact_password_without_scheme_separator() {
        assert_eq!(redact_password("postgres:bank:secret@db/bank"), "postgres:***");
        assert_eq!(redact_password("bank:secret@db"), "bank:***");
        assert_eq!(redact_password("host=db user=bank password=secret"), "***");
        assert_eq!(redact_password("/tmp/sec@ret"), "***");
        assert_eq!(redact_password("bank:secret@db/x://y"), "bank:***");
    }

    #[test]
    fn redact_password_never_prints_password() {
        let passwords = [
            "secret",
            "x/y@z",
            "Str0ng#p@ss/w%rd",
            "a:b:c",
            "pa@",
            "p@a",
            "/pa",
            "?q=1",
            "#frag",
            "[::1]",
            "a&password=b",
            "密码",
        ];
        for password in passwords {
            for url in [
                format!("postgres://bank:{password}@postgres:5432/deposit_status"),
                format!(
                    "postgres://bank:{password}@postgres/deposit_status?sslmode=require&password={password}"
                ),
                format!("postgres://bank@postgres/deposit_status?password={password}"),
                format!("postgres://bank:{password}"),
                format!("postgres:bank:{password}@db/bank"),
            ] {
                let redacted = redact_password(&url);
                // In `postgres://bank:p@a` the text after the last `@` is
                // the host, so only the whole password is checked here.
                assert!(!redacted.contains(password), "{url} -> {redacted}");
            }
        }
    }
}
