//! The Tera filter `sql(db=db)`: SQL in the templates is written with PostgreSQL's numbered
//! placeholders (`$1`, `$2`, ...), which SQLite also accepts; for MySQL/MariaDB the filter turns
//! them into `?`. MySQL binds `?` in order of appearance, so inside each Rust string literal the
//! placeholders must read `$1`, `$2`, ... in order, each once; anything else is a render error
//! rather than a silently wrong query.

use std::collections::HashMap;

/// Registers the filter on a Tera instance.
pub fn register(tera: &mut tera::Tera) {
    tera.register_filter("sql", filter);
}

fn filter(value: &tera::Value, args: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    let text = value
        .as_str()
        .ok_or_else(|| tera::Error::msg("the sql filter applies to text"))?;
    let db = args
        .get("db")
        .and_then(|v| v.as_str())
        .ok_or_else(|| tera::Error::msg("the sql filter needs `db`, e.g. sql(db=db)"))?;
    match db {
        "mysql" => question_marks(text)
            .map(tera::Value::String)
            .map_err(tera::Error::msg),
        "sqlite" | "postgres" => Ok(tera::Value::String(text.to_string())),
        other => Err(tera::Error::msg(format!(
            "sql filter: unknown db `{other}`"
        ))),
    }
}

/// Replaces `$N` placeholders inside string literals with `?`, checking their order.
pub fn question_marks(text: &str) -> Result<String, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut expected = 1u32;
    let mut literal_start_line = 1usize;
    let mut line = 1usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
        }
        if !in_string {
            // Comments and char literals cannot open a string.
            if c == '/' && chars.get(i + 1) == Some(&'/') {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(chars[i]);
                    i += 1;
                }
                continue;
            }
            if c == '\'' && chars.get(i + 2) == Some(&'\'') {
                out.extend(&chars[i..i + 3]);
                i += 3;
                continue;
            }
            if c == '"' {
                in_string = true;
                expected = 1;
                literal_start_line = line;
            }
            out.push(c);
            i += 1;
            continue;
        }
        match c {
            '\\' => {
                out.push(c);
                if let Some(&next) = chars.get(i + 1) {
                    if next == '\n' {
                        line += 1;
                    }
                    out.push(next);
                }
                i += 2;
            }
            '"' => {
                in_string = false;
                out.push(c);
                i += 1;
            }
            '$' if chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                let digits: String = chars[i + 1..]
                    .iter()
                    .take_while(|d| d.is_ascii_digit())
                    .collect();
                let n: u32 = digits.parse().map_err(|e| format!("sql filter: {e}"))?;
                if n != expected {
                    return Err(format!(
                        "sql filter: for MySQL, placeholders must be $1, $2, ... in order, each \
                         once, within one string literal; found ${n} where ${expected} was \
                         expected (literal starting on line {literal_start_line} of the block)"
                    ));
                }
                expected += 1;
                out.push('?');
                i += 1 + digits.len();
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_gets_question_marks() {
        let src =
            "let q = \"UPDATE t SET a = $1, b = $2 \\\n WHERE id = $3\";\nlet r = \"SELECT $1\";";
        assert_eq!(
            question_marks(src).unwrap(),
            "let q = \"UPDATE t SET a = ?, b = ? \\\n WHERE id = ?\";\nlet r = \"SELECT ?\";"
        );
    }

    #[test]
    fn out_of_order_or_repeated_placeholders_are_errors() {
        assert!(question_marks("\"SELECT $2, $1\"").is_err());
        assert!(question_marks("\"SELECT $1 WHERE $1\"").is_err());
    }

    #[test]
    fn comments_and_char_literals_do_not_open_strings() {
        let src = "// a \"quote\nlet c = '\"';\nlet q = \"$1\"; // $9";
        assert_eq!(
            question_marks(src).unwrap(),
            "// a \"quote\nlet c = '\"';\nlet q = \"?\"; // $9"
        );
    }

    #[test]
    fn the_filter_leaves_postgres_and_sqlite_alone() {
        let mut tera = tera::Tera::default();
        register(&mut tera);
        tera.add_raw_template("t", "{% filter sql(db=db) %}\"a = $1\"{% endfilter %}")
            .unwrap();
        for (db, expected) in [
            ("sqlite", "\"a = $1\""),
            ("postgres", "\"a = $1\""),
            ("mysql", "\"a = ?\""),
        ] {
            let mut ctx = tera::Context::new();
            ctx.insert("db", db);
            assert_eq!(tera.render("t", &ctx).unwrap(), expected);
        }
    }
}
