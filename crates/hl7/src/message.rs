//! Parsing an HL7 v2 message: delimiters from MSH-1 and MSH-2, segments, fields, repetitions,
//! components and the escape sequences of HL7 v2.5 §2.7.

use std::fmt;

/// The separators a message declares in MSH-1 and MSH-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiters {
    pub field: char,
    pub component: char,
    pub repetition: char,
    pub escape: char,
    pub subcomponent: char,
}

impl Default for Delimiters {
    fn default() -> Self {
        Self {
            field: '|',
            component: '^',
            repetition: '~',
            escape: '\\',
            subcomponent: '&',
        }
    }
}

/// Why a message could not be parsed, with the segment it was found in (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub segment: usize,
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "segment {}: {}", self.segment, self.reason)
    }
}

/// One segment: its name and its fields as sent (still escaped). `fields[n]` is field `n`, so
/// `fields[0]` is the name and, for MSH, `fields[1]` is the field separator itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    fields: Vec<String>,
}

impl Segment {
    pub fn name(&self) -> &str {
        &self.fields[0]
    }

    /// Field `n` as sent, or `""` when absent.
    pub fn raw(&self, n: usize) -> &str {
        self.fields.get(n).map_or("", String::as_str)
    }

    pub fn field_count(&self) -> usize {
        self.fields.len() - 1
    }
}

/// A parsed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    delimiters: Delimiters,
    segments: Vec<Segment>,
}

fn is_delimiter(c: char) -> bool {
    !c.is_alphanumeric() && !c.is_whitespace() && c.is_ascii()
}

impl Message {
    /// Parses a message whose segments end with CR (LF and CR LF are accepted too).
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let err = |segment: usize, reason: String| ParseError { segment, reason };
        let mut lines = text
            .split(['\r', '\n'])
            .filter(|l| !l.trim().is_empty())
            .enumerate();
        let (_, header) = lines
            .next()
            .ok_or_else(|| err(1, "the message is empty".into()))?;
        let rest = header
            .strip_prefix("MSH")
            .ok_or_else(|| err(1, "a message must start with an MSH segment".into()))?;
        let mut chars = rest.chars();
        let field = chars
            .next()
            .filter(|c| is_delimiter(*c))
            .ok_or_else(|| err(1, "MSH-1 (the field separator) is missing".into()))?;
        let encoding: Vec<char> = chars.take_while(|c| *c != field).collect();
        if encoding.len() < 4
            || !encoding.iter().all(|c| is_delimiter(*c))
            || (0..encoding.len()).any(|i| encoding[..i].contains(&encoding[i]))
            || encoding.contains(&field)
        {
            return Err(err(
                1,
                "MSH-2 must give four distinct separator characters, such as ^~\\&".into(),
            ));
        }
        let delimiters = Delimiters {
            field,
            component: encoding[0],
            repetition: encoding[1],
            escape: encoding[2],
            subcomponent: encoding[3],
        };
        let mut msh: Vec<String> = header.split(field).map(str::to_owned).collect();
        msh.insert(1, field.to_string());
        let mut segments = vec![Segment { fields: msh }];
        for (i, line) in lines {
            let fields: Vec<String> = line.split(field).map(str::to_owned).collect();
            let name = &fields[0];
            let valid = name.len() == 3
                && name.starts_with(|c: char| c.is_ascii_uppercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
            if !valid {
                let shown: String = line.chars().take(20).collect();
                return Err(err(
                    i + 1,
                    format!("`{shown}` does not start with a three-character segment name"),
                ));
            }
            if name == "MSH" {
                return Err(err(i + 1, "a second MSH segment".into()));
            }
            segments.push(Segment { fields });
        }
        Ok(Self {
            delimiters,
            segments,
        })
    }

    pub fn delimiters(&self) -> Delimiters {
        self.delimiters
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    pub fn msh(&self) -> &Segment {
        &self.segments[0]
    }

    /// The first segment called `name`.
    pub fn first(&self, name: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.name() == name)
    }

    /// Field `n`, repetition 1, component `c`, subcomponent 1 of `segment`, unescaped; `None`
    /// when empty.
    pub fn component(&self, segment: &Segment, n: usize, c: usize) -> Option<String> {
        let d = self.delimiters;
        if segment.name() == "MSH" && n <= 2 {
            return Some(segment.raw(n))
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
        }
        let rep = segment.raw(n).split(d.repetition).next().unwrap_or("");
        let comp = rep
            .split(d.component)
            .nth(c.saturating_sub(1))
            .unwrap_or("");
        let sub = comp.split(d.subcomponent).next().unwrap_or("");
        Some(self.unescape(sub)).filter(|s| !s.is_empty())
    }

    /// The repetitions of field `n`, each split into unescaped components.
    pub fn repetitions(&self, segment: &Segment, n: usize) -> Vec<Vec<String>> {
        let d = self.delimiters;
        segment
            .raw(n)
            .split(d.repetition)
            .filter(|r| !r.is_empty())
            .map(|r| {
                r.split(d.component)
                    .map(|c| self.unescape(c.split(d.subcomponent).next().unwrap_or("")))
                    .collect()
            })
            .collect()
    }

    /// Field `n`'s first repetition with its escapes resolved; components stay separated by the
    /// component separator.
    pub fn field(&self, segment: &Segment, n: usize) -> Option<String> {
        if segment.name() == "MSH" && n <= 2 {
            return self.component(segment, n, 1);
        }
        let d = self.delimiters;
        let rep = segment.raw(n).split(d.repetition).next().unwrap_or("");
        let parts: Vec<String> = rep.split(d.component).map(|c| self.unescape(c)).collect();
        let joined = parts.join(&d.component.to_string());
        Some(joined).filter(|s| !s.chars().all(|c| c == d.component))
    }

    /// Resolves `\F\ \S\ \T\ \R\ \E\`, `\Xhh…\` and `\.br\`; formatting escapes (`\H\`, `\N\`)
    /// are dropped and anything unknown is kept as sent.
    pub fn unescape(&self, text: &str) -> String {
        let d = self.delimiters;
        if !text.contains(d.escape) {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(d.escape) {
            out.push_str(&rest[..start]);
            let after = &rest[start + d.escape.len_utf8()..];
            let Some(end) = after.find(d.escape) else {
                out.push_str(&rest[start..]);
                return out;
            };
            let code = &after[..end];
            match code {
                "F" => out.push(d.field),
                "S" => out.push(d.component),
                "T" => out.push(d.subcomponent),
                "R" => out.push(d.repetition),
                "E" => out.push(d.escape),
                ".br" => out.push('\n'),
                "H" | "N" => {}
                _ if code.len() > 1
                    && code.len() % 2 == 1
                    && code.starts_with('X')
                    && code[1..].bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    let bytes: Vec<u8> = (1..code.len())
                        .step_by(2)
                        .filter_map(|i| u8::from_str_radix(&code[i..i + 2], 16).ok())
                        .collect();
                    out.push_str(&String::from_utf8_lossy(&bytes));
                }
                _ => {
                    out.push(d.escape);
                    out.push_str(code);
                    out.push(d.escape);
                }
            }
            rest = &after[end + d.escape.len_utf8()..];
        }
        out.push_str(rest);
        out
    }
}

/// Escapes the separators in `text` so it can be placed in a field.
pub fn escape(text: &str, d: Delimiters) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let code = match c {
            c if c == d.escape => "E",
            c if c == d.field => "F",
            c if c == d.component => "S",
            c if c == d.subcomponent => "T",
            c if c == d.repetition => "R",
            '\r' => "X0D",
            '\n' => "X0A",
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push(d.escape);
        out.push_str(code);
        out.push(d.escape);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ADT: &str = "MSH|^~\\&|HIS|H1|HDOS|REGION|20260204083345+0800||ADT^A04^ADT_A01|C1|P|2.5\r\
        EVN|A04|20260204083345+0800\r\
        PID|1||P1^^^H1^PI~330102199001011234^^^CHN^NNCHN||王\\S\\小明||19900101|M\r\
        PV1|1|O|内科\r";

    #[test]
    fn fields_components_and_repetitions() {
        let m = Message::parse(ADT).unwrap();
        assert_eq!(m.segments().len(), 4);
        let msh = m.msh();
        assert_eq!(m.field(msh, 1).as_deref(), Some("|"));
        assert_eq!(m.field(msh, 2).as_deref(), Some("^~\\&"));
        assert_eq!(m.component(msh, 9, 2).as_deref(), Some("A04"));
        assert_eq!(m.field(msh, 10).as_deref(), Some("C1"));
        let pid = m.first("PID").unwrap();
        assert_eq!(m.field(pid, 5).as_deref(), Some("王^小明"), "\\S\\ is a ^");
        let ids = m.repetitions(pid, 3);
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[1][0], "330102199001011234");
        assert_eq!(ids[1][4], "NNCHN");
        assert_eq!(m.component(pid, 3, 1).as_deref(), Some("P1"));
        assert_eq!(m.field(pid, 40), None);
    }

    #[test]
    fn other_delimiters_and_line_endings_are_read() {
        let m = Message::parse("MSH#$*@!#A#B\nPID#1##X$Y\n").unwrap();
        let pid = m.first("PID").unwrap();
        assert_eq!(m.component(pid, 3, 2).as_deref(), Some("Y"));
        assert_eq!(m.delimiters().repetition, '*');
    }

    #[test]
    fn malformed_messages_say_where() {
        for (text, segment, says) in [
            ("", 1, "empty"),
            ("PID|1", 1, "MSH"),
            ("MSH|^~", 1, "MSH-2"),
            ("MSH|^^\\&|A", 1, "MSH-2"),
            ("MSH|^~\\&|A\rP I|1", 2, "segment name"),
            ("MSH|^~\\&|A\rPID|1\rMSH|^~\\&|B", 3, "second MSH"),
        ] {
            let e = Message::parse(text).unwrap_err();
            assert_eq!(e.segment, segment, "{text}: {e}");
            assert!(e.reason.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn escapes_resolve() {
        let m = Message::parse(ADT).unwrap();
        assert_eq!(m.unescape("a\\F\\b\\E\\c\\T\\d\\R\\"), "a|b\\c&d~");
        assert_eq!(m.unescape("\\XE4B8AD\\"), "中");
        assert_eq!(m.unescape("a\\.br\\b\\H\\c\\N\\"), "a\nbc");
        assert_eq!(
            m.unescape("\\Q\\ and \\unterminated"),
            "\\Q\\ and \\unterminated"
        );
    }

    proptest! {
        #[test]
        fn escaped_text_comes_back_unchanged(text in "\\PC{0,40}") {
            let m = Message::parse(ADT).unwrap();
            prop_assert_eq!(m.unescape(&escape(&text, m.delimiters())), text);
        }

        #[test]
        fn a_value_placed_in_a_field_is_read_back(value in "\\PC{1,40}", n in 1usize..30) {
            let m = Message::parse(ADT).unwrap();
            let mut fields = vec!["ZZZ".to_owned()];
            fields.extend((1..n).map(|_| String::new()));
            fields.push(escape(&value, m.delimiters()));
            let text = format!("{ADT}{}\r", fields.join("|"));
            let parsed = Message::parse(&text).unwrap();
            let z = parsed.first("ZZZ").unwrap();
            prop_assert_eq!(parsed.component(z, n, 1), Some(value.clone()).filter(|v| !v.is_empty()));
        }

        #[test]
        fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(m) = Message::parse(&text) {
                for s in m.segments() {
                    for n in 0..=s.field_count() + 1 {
                        let _ = m.field(s, n);
                        let _ = m.repetitions(s, n);
                    }
                }
            }
            let with_header = format!("MSH|^~\\&|{text}");
            let _ = Message::parse(&with_header);
        }
    }
}
