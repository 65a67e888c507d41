/// Deletes the token and returns whose it was, if it existed, had this purpose and had not
/// expired. Of two requests racing with the same token only one gets it: one-shot tokens are
/// single use.
pub async fn take_token(
    connection: &mut Connection,
    purpose: Purpose,
    token_hash: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    let row: Option<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "DELETE FROM user_tokens WHERE token_hash = $1 AND purpose = $2 RETURNING user_id, expires_at",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .fetch_optional(&mut *connection)
    .await?;
    Ok(row
        .filter(|(_, expires_at)| *expires_at > now())
        .map(|(user_id, _)| user_id))
}
