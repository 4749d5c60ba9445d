//! User-written SQL conditions (custom quality rules): checked before they are saved, so a rule
//! that cannot run is refused with a reason rather than failing every later run.

use crate::functions;
use deltalake::{
    arrow::datatypes::{DataType, Schema},
    datafusion::{
        common::{
            DFSchema,
            tree_node::{TreeNode, TreeNodeRecursion},
        },
        logical_expr::{Expr, ExprSchemable},
        prelude::SessionContext,
    },
};

/// Scalar functions a condition may call: deterministic, row-local, no I/O. Anything else
/// (aggregates, windows, subqueries, `random()`, `now()` …) is refused.
const ALLOWED: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "round",
    "trunc",
    "power",
    "sqrt",
    "ln",
    "log10",
    "greatest",
    "least",
    "coalesce",
    "nullif",
    "nvl",
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "lower",
    "upper",
    "trim",
    "btrim",
    "ltrim",
    "rtrim",
    "substr",
    "substring",
    "left",
    "right",
    "starts_with",
    "ends_with",
    "strpos",
    "concat",
    "replace",
    "lpad",
    "rpad",
    "regexp_like",
    "regexp_match",
    "date_part",
    "date_trunc",
    "extract",
    "to_date",
    "to_timestamp",
];

/// Why a condition was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PredicateError {
    /// Not parseable, or naming a column the table does not have.
    Invalid(String),
    /// A function outside the allow-list, or a subquery, aggregate or window.
    Forbidden(String),
    /// Parses but is not a condition.
    NotBoolean(String),
}

impl std::fmt::Display for PredicateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(e) => write!(f, "the condition is not valid SQL here: {e}"),
            Self::Forbidden(what) => write!(
                f,
                "`{what}` may not be used in a condition (allowed: hdos_* validators and {})",
                ALLOWED.join(", ")
            ),
            Self::NotBoolean(t) => write!(
                f,
                "the expression gives {t}, not true/false: write a condition such as `x >= 0`"
            ),
        }
    }
}

/// Checks that `sql` is a boolean expression over the columns of `schema` using only allowed
/// functions.
pub fn check_predicate(schema: &Schema, sql: &str) -> Result<(), PredicateError> {
    // The text is spliced into a larger query: a comment or a line break could end it early.
    if sql.contains("--") || sql.contains("/*") || sql.chars().any(char::is_control) {
        return Err(PredicateError::Invalid(
            "comments and line breaks are not allowed in a condition".into(),
        ));
    }
    let ctx = SessionContext::new();
    functions::register(&ctx);
    let df_schema =
        DFSchema::try_from(schema.clone()).map_err(|e| PredicateError::Invalid(e.to_string()))?;
    let expr = ctx
        .parse_sql_expr(sql, &df_schema)
        .map_err(|e| PredicateError::Invalid(first_line(&e.to_string())))?;
    // `x > 0 AS ok` parses, but spliced into a larger query it is a syntax error.
    if matches!(expr, Expr::Alias(_)) {
        return Err(PredicateError::Forbidden("AS".into()));
    }
    let mut forbidden = None;
    expr.apply(|e| {
        let bad = match e {
            Expr::ScalarFunction(f) => {
                let name = f.name();
                (!ALLOWED.contains(&name) && !functions::NAMES.contains(&name))
                    .then(|| name.to_owned())
            }
            Expr::AggregateFunction(f) => Some(f.func.name().to_owned()),
            Expr::WindowFunction(_) => Some("window function".to_owned()),
            Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_) => {
                Some("subquery".to_owned())
            }
            _ => None,
        };
        if bad.is_some() {
            forbidden = bad;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(|e| PredicateError::Invalid(e.to_string()))?;
    if let Some(name) = forbidden {
        return Err(PredicateError::Forbidden(name));
    }
    let ty = expr
        .get_type(&df_schema)
        .map_err(|e| PredicateError::Invalid(first_line(&e.to_string())))?;
    if ty != DataType::Boolean {
        return Err(PredicateError::NotBoolean(ty.to_string()));
    }
    Ok(())
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::datatypes::Field;

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("total_amount", DataType::Decimal128(12, 2), true),
            Field::new("self_paid", DataType::Decimal128(12, 2), true),
            Field::new("id_no", DataType::Utf8, true),
        ])
    }

    #[test]
    fn conditions_pass_and_bad_ones_say_why() {
        let s = schema();
        assert_eq!(check_predicate(&s, "total_amount >= self_paid"), Ok(()));
        assert_eq!(
            check_predicate(&s, "hdos_id_valid(id_no) AND length(trim(id_no)) = 18"),
            Ok(())
        );
        assert!(matches!(
            check_predicate(&s, "total_amount >= "),
            Err(PredicateError::Invalid(_))
        ));
        assert!(matches!(
            check_predicate(&s, "amount > 0"),
            Err(PredicateError::Invalid(_))
        ));
        assert_eq!(
            check_predicate(&s, "random() > 0.5"),
            Err(PredicateError::Forbidden("random".into()))
        );
        assert!(matches!(
            check_predicate(&s, "total_amount + 1"),
            Err(PredicateError::NotBoolean(_))
        ));
        let msg = check_predicate(&s, "now() > now()")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`now`"), "{msg}");
        assert_eq!(
            check_predicate(&s, "total_amount > 0 AS ok"),
            Err(PredicateError::Forbidden("AS".into()))
        );
        for spliced in [
            "total_amount > 0 -- x",
            "total_amount > 0 /* x */",
            "total_amount > 0\nOR true",
        ] {
            assert!(
                matches!(
                    check_predicate(&s, spliced),
                    Err(PredicateError::Invalid(_))
                ),
                "{spliced}"
            );
        }
    }
}
