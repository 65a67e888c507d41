//! Just enough MIME to read the mails the generated app sends.
//!
//! lettre picks a transfer encoding per body (7bit, quoted-printable or base64) and may send a
//! `multipart/alternative` with a text and an HTML part. [`decode_message`] turns a raw message
//! into searchable text: the headers, then every leaf part decoded. [`find_token`] pulls a token
//! out of a link such as `http://localhost:3000/verify?token=abc`.

/// Decodes a raw RFC 5322 message: its header block, followed by the decoded body of every leaf
/// MIME part (quoted-printable and base64 undone, multiparts walked recursively).
pub fn decode_message(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let (headers, _) = split_head(&raw);
    let mut out = String::from(headers);
    out.push_str("\n\n");
    decode_entity(&raw, &mut out);
    out
}

/// Appends the decoded body (or bodies, for a multipart) of one MIME entity to `out`.
fn decode_entity(entity: &str, out: &mut String) {
    let (headers, body) = split_head(entity);
    let content_type = header(headers, "content-type").unwrap_or_default();
    let boundary = content_type
        .to_ascii_lowercase()
        .starts_with("multipart/")
        .then(|| parameter(&content_type, "boundary"))
        .flatten();
    if let Some(boundary) = boundary {
        for part in multipart_parts(body, &boundary) {
            decode_entity(part, out);
            out.push('\n');
        }
        return;
    }
    let encoding = header(headers, "content-transfer-encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    match encoding.trim() {
        "quoted-printable" => out.push_str(&decode_quoted_printable(body)),
        "base64" => out.push_str(&String::from_utf8_lossy(&decode_base64(body))),
        _ => out.push_str(body),
    }
}

/// Splits an entity (with `\n` line ends) at the first empty line into headers and body.
fn split_head(entity: &str) -> (&str, &str) {
    match entity.find("\n\n") {
        Some(at) => (&entity[..at], &entity[at + 2..]),
        None => (entity, ""),
    }
}

/// The unfolded value of the first header called `name` (case-insensitive).
pub fn header(headers: &str, name: &str) -> Option<String> {
    let mut found: Option<String> = None;
    for line in headers.lines() {
        if line.starts_with([' ', '\t']) {
            // A folded continuation line belongs to the header before it.
            if let Some(value) = found.as_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if found.is_some() {
            break;
        }
        let named = line
            .split_once(':')
            .filter(|(key, _)| key.trim().eq_ignore_ascii_case(name));
        if let Some((_, value)) = named {
            found = Some(value.trim().to_string());
        }
    }
    found
}

/// A `key=value` parameter of a header value such as `multipart/alternative; boundary="x"`.
fn parameter(value: &str, key: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The parts of a multipart body, between `--boundary` lines, up to `--boundary--`.
fn multipart_parts<'a>(body: &'a str, boundary: &str) -> Vec<&'a str> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    // Skip the preamble.
    let Some(start) = rest.find(&delimiter) else {
        return parts;
    };
    rest = &rest[start + delimiter.len()..];
    while !rest.starts_with("--") {
        let rest_of_line = rest.find('\n').map_or("", |at| &rest[at + 1..]);
        let end = rest_of_line.find(&delimiter).unwrap_or(rest_of_line.len());
        parts.push(rest_of_line[..end].trim_end_matches('\n'));
        if end == rest_of_line.len() {
            break;
        }
        rest = &rest_of_line[end + delimiter.len()..];
    }
    parts
}

/// Decodes quoted-printable text: soft line breaks (`=` at a line end) are removed and `=XX`
/// escapes become the byte they name; the bytes are then read as UTF-8.
pub fn decode_quoted_printable(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'=' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let rest = &bytes[i + 1..];
        if rest.starts_with(b"\r\n") {
            i += 3;
        } else if rest.starts_with(b"\n") {
            i += 2;
        } else if let Some(byte) = rest.get(..2).and_then(hex_byte) {
            out.push(byte);
            i += 3;
        } else {
            // Not a valid escape: keep the `=` as it is, as lenient readers do.
            out.push(b'=');
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    let text = std::str::from_utf8(pair).ok()?;
    u8::from_str_radix(text, 16).ok()
}

/// Decodes standard base64, ignoring line breaks and other characters outside the alphabet.
pub fn decode_base64(text: &str) -> Vec<u8> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().take_while(|&c| c != b'=') {
        let Some(v) = value(c) else { continue };
        buffer = (buffer << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

/// Finds `<prefix><token>` in `text` (e.g. prefix `http://localhost:3000/verify?token=`) and
/// returns the token: the longest run of URL-safe characters after the prefix.
pub fn find_token(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)? + prefix.len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '%'))
        .collect();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_soft_breaks_and_escapes_are_decoded() {
        let encoded =
            "Open http://localhost:3000/verify?token=3D=\r\nabc_DEF-12=\nx caf=C3=A9 a=3Db";
        assert_eq!(
            decode_quoted_printable(encoded),
            "Open http://localhost:3000/verify?token=abc_DEF-12x café a=b"
        );
    }

    #[test]
    fn quoted_printable_keeps_a_stray_equals_sign() {
        assert_eq!(decode_quoted_printable("a=zz b="), "a=zz b=");
    }

    #[test]
    fn base64_decodes_with_line_breaks_and_padding() {
        assert_eq!(decode_base64("aGVsbG8g\r\nd29y\nbGQ="), b"hello world");
        assert_eq!(decode_base64("YQ=="), b"a");
    }

    #[test]
    fn a_single_part_quoted_printable_message_is_decoded() {
        let raw = "From: a@example.com\r\nTo: b@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n\r\nGo to http://x/verify?tok=\r\nen=3Dabc\r\n";
        let text = decode_message(raw);
        assert!(text.contains("To: b@example.com"), "{text}");
        assert!(text.contains("http://x/verify?token=abc"), "{text}");
    }

    #[test]
    fn every_part_of_a_multipart_message_is_decoded() {
        let raw = "Subject: hi\r\nContent-Type: multipart/alternative;\r\n boundary=\"BOUND\"\r\n\r\n\
                   preamble\r\n--BOUND\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                   cGxhaW4gcGFydA==\r\n--BOUND\r\nContent-Type: text/html\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n\r\n<a href=3D\"u\">html part</a>\r\n--BOUND--\r\n";
        let text = decode_message(raw);
        assert!(text.contains("plain part"), "{text}");
        assert!(text.contains("<a href=\"u\">html part</a>"), "{text}");
    }

    #[test]
    fn a_token_ends_at_the_first_character_outside_a_url_token() {
        let text = "Link: <a href=\"http://h/verify?token=Ab-_9.x~%2F\">verify</a>";
        assert_eq!(
            find_token(text, "http://h/verify?token=").as_deref(),
            Some("Ab-_9.x~%2F")
        );
        assert_eq!(
            find_token("http://h/verify?token= ", "http://h/verify?token="),
            None
        );
        assert_eq!(find_token("nothing here", "http://h/verify?token="), None);
    }

    #[test]
    fn folded_headers_are_unfolded() {
        let headers = "Content-Type: multipart/mixed;\n\tboundary=\"b\"\nX-Other: 1";
        assert_eq!(
            header(headers, "content-type").as_deref(),
            Some("multipart/mixed; boundary=\"b\"")
        );
        assert_eq!(header(headers, "x-other").as_deref(), Some("1"));
    }
}
