//! The part of FHIRPath a mapping needs to read one value from a resource:
//! `identifier.where(type.coding.code = 'NNCHN').value`, `name[0].given`, `code.coding.first().code`.
//! Paths may start with the resource type (`Patient.gender`). A path gives the first value it
//! reaches, as text.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct FhirPath {
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    First,
    Where {
        path: FhirPath,
        equal: bool,
        value: String,
    },
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.text.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn error(&self, what: &str) -> String {
        format!(
            "FHIRPath `{}`: {what} at character {}",
            self.text,
            self.at + 1
        )
    }

    fn ident(&mut self) -> Result<&'a str, String> {
        self.skip_space();
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 || rest.as_bytes()[0].is_ascii_digit() {
            return Err(self.error("expected a name"));
        }
        self.at += len;
        Ok(&rest[..len])
    }

    fn literal(&mut self) -> Result<String, String> {
        if !self.eat("'") {
            return Err(self.error("expected a quoted value"));
        }
        let rest = self.rest();
        let end = rest
            .find('\'')
            .ok_or_else(|| self.error("unclosed quote"))?;
        self.at += end + 1;
        Ok(rest[..end].to_owned())
    }

    /// Steps until `)` or the end.
    fn path(&mut self, nested: bool) -> Result<FhirPath, String> {
        let mut steps = Vec::new();
        loop {
            let name = self.ident()?;
            match name {
                "where" if self.eat("(") => {
                    let path = self.path(true)?;
                    let equal = if self.eat("!=") {
                        false
                    } else if self.eat("=") {
                        true
                    } else {
                        return Err(self.error("expected = or !="));
                    };
                    let value = self.literal()?;
                    if !self.eat(")") {
                        return Err(self.error("expected )"));
                    }
                    steps.push(Step::Where { path, equal, value });
                }
                "first" if self.eat("(") => {
                    if !self.eat(")") {
                        return Err(self.error("expected )"));
                    }
                    steps.push(Step::First);
                }
                _ => steps.push(Step::Field(name.to_owned())),
            }
            while self.eat("[") {
                self.skip_space();
                let rest = self.rest();
                let len = rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
                let index = rest[..len]
                    .parse()
                    .map_err(|_| self.error("expected an index"))?;
                self.at += len;
                if !self.eat("]") {
                    return Err(self.error("expected ]"));
                }
                steps.push(Step::Index(index));
            }
            self.skip_space();
            if self.rest().is_empty() || (nested && (self.rest().starts_with(['=', '!', ')']))) {
                break;
            }
            if !self.eat(".") {
                return Err(self.error("expected ."));
            }
        }
        Ok(FhirPath { steps })
    }
}

impl FhirPath {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parser = Parser { text, at: 0 };
        let mut path = parser.path(false)?;
        // A leading resource type (`Patient.gender`): element names start in lower case.
        if let Some(Step::Field(first)) = path.steps.first()
            && first.starts_with(|c: char| c.is_ascii_uppercase())
            && path.steps.len() > 1
        {
            path.steps.remove(0);
        }
        Ok(path)
    }

    fn select<'v>(&self, root: &'v Value) -> Vec<&'v Value> {
        let mut items = vec![root];
        for step in &self.steps {
            items = match step {
                Step::Field(name) => items
                    .into_iter()
                    .filter_map(|v| v.get(name))
                    .flat_map(|v| match v {
                        Value::Array(a) => a.iter().collect(),
                        other => vec![other],
                    })
                    .collect(),
                Step::Index(i) => items.get(*i).copied().into_iter().collect(),
                Step::First => items.into_iter().take(1).collect(),
                Step::Where { path, equal, value } => items
                    .into_iter()
                    .filter(|item| {
                        let found = path.read(item);
                        (found.as_deref() == Some(value.as_str())) == *equal
                    })
                    .collect(),
            };
        }
        items
    }

    /// The first value the path reaches, as text; `None` when it reaches none or an element
    /// that is not a primitive.
    pub fn read(&self, resource: &Value) -> Option<String> {
        match self.select(resource).first()? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn read(path: &str, v: &Value) -> Option<String> {
        FhirPath::parse(path).unwrap().read(v)
    }

    #[test]
    fn paths_read_what_mappings_ask_for() {
        let p = json!({
            "resourceType": "Patient", "id": "p1", "gender": "female", "active": true,
            "identifier": [
                {"system": "urn:his:mrn", "value": "MR001"},
                {"type": {"coding": [{"code": "NNCHN"}]}, "value": "110101199003074514"}
            ],
            "name": [{"family": "王", "given": ["小", "明"]}],
            "extension": [{"url": "urn:x", "valueDecimal": 1.5}]
        });
        assert_eq!(read("Patient.gender", &p), Some("female".into()));
        assert_eq!(read("id", &p), Some("p1".into()));
        assert_eq!(
            read("identifier.where(type.coding.code = 'NNCHN').value", &p),
            Some("110101199003074514".into())
        );
        assert_eq!(
            read("identifier.where(system != 'urn:his:mrn').value", &p),
            Some("110101199003074514".into())
        );
        assert_eq!(read("name[0].given[1]", &p), Some("明".into()));
        assert_eq!(read("name.given", &p), Some("小".into()));
        assert_eq!(read("name.first().family", &p), Some("王".into()));
        assert_eq!(read("active", &p), Some("true".into()));
        assert_eq!(
            read("extension.where(url='urn:x').valueDecimal", &p),
            Some("1.5".into())
        );
        assert_eq!(read("name", &p), None, "an element is not a value");
        assert_eq!(read("birthDate", &p), None);
        assert_eq!(read("name[3].family", &p), None);
    }

    #[test]
    fn bad_paths_are_named() {
        for bad in [
            "",
            "a.",
            "a[x]",
            "where(a = 1)",
            "a.where(b 'c')",
            "a.where(b = 'c'",
        ] {
            let e = FhirPath::parse(bad).unwrap_err();
            assert!(e.contains("FHIRPath"), "{bad}: {e}");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in "[a-z.()\\[\\]0-9 '=!]{0,30}") {
            let _ = FhirPath::parse(&text);
        }
    }
}
