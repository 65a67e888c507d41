/// Revokes one credential (logout).
pub async fn revoke(state: &UsersState, credential: &Credential) -> Result<(), ApiError> {
    db::delete_token(&state.db, &credential.token_hash).await?;
    Ok(())
}

/// Revokes every credential of the user except `keep`, on the pool (`&state.db`) or in a
/// transaction (`&mut *connection`).
pub async fn revoke_all(
    executor: impl sqlx::Executor<'_, Database = db::Db>,
    user_id: Uuid,
    keep: Option<&Credential>,
) -> Result<(), ApiError> {
    let keep = keep.map(|credential| credential.token_hash.as_str());
    db::delete_user_tokens(executor, user_id, &[CREDENTIAL], keep).await?;
    Ok(())
}
