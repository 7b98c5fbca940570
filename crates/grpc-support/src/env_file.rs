//! Messages for env files that fail to parse. They name the file, the line
//! and the variable, but never the value, because values such as database
//! URLs may contain passwords.
//!
//! The env file parser (dotenvy in both services) reports the text it failed
//! on, which may be the whole value. The functions here find that failure's
//! line by parsing longer and longer starts of the file again, through a
//! closure; [`describe_dotenvy_error`] does it for dotenvy.

use std::path::Path;

/// Location in an env file of the first entry that fails to parse.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParseErrorLocation {
    /// 1-based line on which the failing entry starts, if it was found.
    pub line: Option<usize>,
    /// Name of the variable that the entry sets, if its first line starts
    /// with a valid name followed by `=`.
    pub variable: Option<String>,
}

/// Finds the entry of `content` on which parsing fails with `error`.
///
/// `first_error` parses a text as an env file and returns its first error,
/// or `None` when every entry parses. The entry starts on the line after
/// the longest start of the file that still parses, and it ends on the first
/// line whose start of the file fails with `error` itself.
pub fn locate_parse_error<E: PartialEq>(
    content: &str,
    error: &E,
    first_error: impl Fn(&str) -> Option<E>,
) -> ParseErrorLocation {
    // The parser skips a byte order mark at the start of a file.
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let lines: Vec<&str> = content.split_inclusive('\n').collect();
    let first_lines = |count: usize| -> usize { lines[..count].iter().map(|line| line.len()).sum() };
    let fails_with_error = |count: usize| first_error(&content[..first_lines(count)]).as_ref() == Some(error);

    // Starts of the file that end before the failing entry's last line fail
    // differently (an unclosed quote at the end) or not at all, and longer
    // ones fail with `error`, so a binary search finds that line.
    let (mut low, mut high) = (1, lines.len() + 1);
    while low < high {
        let middle = low + (high - low) / 2;
        if fails_with_error(middle) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    let last_line = low;
    if last_line > lines.len() {
        return ParseErrorLocation::default();
    }

    let mut first_line = last_line;
    while first_line > 1 && first_error(&content[..first_lines(first_line - 1)]).is_some() {
        first_line -= 1;
    }
    ParseErrorLocation {
        line: Some(first_line),
        variable: variable_name(lines[first_line - 1]),
    }
}

/// Returns a message for an entry that failed to parse at `location`,
/// without any of the entry's text but the variable name. The caller names
/// the file.
pub fn describe_parse_error(location: &ParseErrorLocation) -> String {
    let place = match (location.line, &location.variable) {
        (Some(line), Some(variable)) => format!("line {line} (variable {variable})"),
        (Some(line), None) => format!("line {line}"),
        (None, _) => "a line".to_string(),
    };
    format!(
        "{place} is not a valid KEY=VALUE line. Put a value that contains spaces, quotes or backslashes \
         in quotes. The line is not shown because it may contain a secret"
    )
}

/// Returns the variable name at the start of `line`: letters, digits, `_`
/// and `.` after optional spaces and `export `, followed by `=`.
fn variable_name(line: &str) -> Option<String> {
    let line = line.trim_start();
    let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
    let end = line
        .find(|character: char| !(character.is_ascii_alphanumeric() || matches!(character, '_' | '.')))
        .unwrap_or(line.len());
    let (name, rest) = line.split_at(end);
    let valid = name.starts_with(|character: char| character.is_ascii_alphabetic() || character == '_')
        && rest.trim_start().starts_with('=');
    valid.then(|| name.to_string())
}

/// Describes why dotenvy failed to load the env file at `path`, without
/// quoting the file: dotenvy's own message for a line that does not parse
/// contains the line.
pub fn describe_dotenvy_error(path: &Path, error: &dotenvy::Error) -> String {
    match error {
        dotenvy::Error::LineParse(text, index) => {
            let content = std::fs::read_to_string(path).unwrap_or_default();
            let failure = (text.clone(), *index);
            let location = locate_parse_error(&content, &failure, first_dotenvy_error);
            describe_parse_error(&location)
        }
        dotenvy::Error::Io(error) => error.to_string(),
        // An invalid variable value, which this message must not show.
        _ => "the file contains an invalid value".to_string(),
    }
}

/// Returns the failing text and position of the first entry of `text`, read
/// as an env file by dotenvy, that does not parse.
fn first_dotenvy_error(text: &str) -> Option<(String, usize)> {
    let error = dotenvy::from_read_iter(text.as_bytes()).find_map(Result::err)?;
    Some(match error {
        dotenvy::Error::LineParse(text, index) => (text, index),
        _ => (String::new(), 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the env file parser: each entry is NAME=VALUE on one
    /// line, or NAME="VALUE" over several lines, and a value must not
    /// contain spaces outside quotes. The error is the failing text.
    fn first_error(text: &str) -> Option<String> {
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((_, value)) = line.split_once('=') else {
                return Some(line.to_string());
            };
            if let Some(quoted) = value.strip_prefix('"') {
                let mut entry = quoted.to_string();
                while !entry.ends_with('"') {
                    match lines.next() {
                        Some(next) => entry = format!("{entry}\n{next}"),
                        None => return Some(format!("unclosed {value}")),
                    }
                }
            } else if value.contains(' ') {
                return Some(value.to_string());
            }
        }
        None
    }

    fn locate(content: &str) -> ParseErrorLocation {
        let error = first_error(content).expect("the content should fail to parse");
        locate_parse_error(content, &error, first_error)
    }

    #[test]
    fn locate_single_line_entry() {
        let content = "# settings\nA=1\n\nSECRET_URL=pass word\nB=2\n";

        let location = locate(content);

        assert_eq!(location.line, Some(4));
        assert_eq!(location.variable.as_deref(), Some("SECRET_URL"));
    }

    #[test]
    fn locate_entry_after_multi_line_value() {
        let content = "A=\"first\nsecond\"\nB=x y\n";

        let location = locate(content);

        assert_eq!(location.line, Some(3));
        assert_eq!(location.variable.as_deref(), Some("B"));
    }

    #[test]
    fn locate_unclosed_multi_line_value() {
        let content = "A=1\nB=\"open\nstill open\n";

        let location = locate(content);

        assert_eq!(location.line, Some(2));
        assert_eq!(location.variable.as_deref(), Some("B"));
    }

    #[test]
    fn locate_line_without_variable() {
        let content = "A=1\nnot a setting\n";

        let location = locate(content);

        assert_eq!(location.line, Some(2));
        assert_eq!(location.variable, None);
    }

    #[test]
    fn locate_same_text_on_earlier_valid_line() {
        // The failing text "x y" is also inside the quoted value of line 1.
        let content = "A=\"x y\"\nB=x y\n";

        let location = locate(content);

        assert_eq!(location.line, Some(2));
        assert_eq!(location.variable.as_deref(), Some("B"));
    }

    #[test]
    fn locate_after_byte_order_mark() {
        let content = "\u{feff}A=1\r\nB=x y\r\n";

        let location = locate(content);

        assert_eq!(location.line, Some(2));
        assert_eq!(location.variable.as_deref(), Some("B"));
    }

    #[test]
    fn locate_error_not_in_content() {
        let location = locate_parse_error("A=1\n", &"other".to_string(), first_error);

        assert_eq!(location, ParseErrorLocation::default());
    }

    #[test]
    fn variable_name_forms() {
        assert_eq!(variable_name("A_1.b=x").as_deref(), Some("A_1.b"));
        assert_eq!(variable_name("  export NAME = x").as_deref(), Some("NAME"));
        assert_eq!(variable_name("1A=x"), None);
        assert_eq!(variable_name("NAME x=y"), None);
        assert_eq!(variable_name("=x"), None);
        assert_eq!(variable_name("\"x y\""), None);
    }

    #[test]
    fn description_names_place() {
        let located = ParseErrorLocation {
            line: Some(3),
            variable: Some("DATABASE_URL".to_string()),
        };
        let without_variable = ParseErrorLocation {
            line: Some(3),
            variable: None,
        };

        assert!(
            describe_parse_error(&located)
                .starts_with("line 3 (variable DATABASE_URL) is not a valid KEY=VALUE line."),
            "{}",
            describe_parse_error(&located)
        );
        assert!(describe_parse_error(&without_variable).starts_with("line 3 is not"));
        assert!(describe_parse_error(&ParseErrorLocation::default()).starts_with("a line is not"));
    }
}
