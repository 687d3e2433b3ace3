//! Authentication: access tokens (JWTs) and their keys, API keys and other hashed
//! secrets, and what happens at a login (finding the user, applying mappers).

pub mod jwt;
pub mod login;
pub mod mappers;
pub mod oauth;
pub mod secret;
