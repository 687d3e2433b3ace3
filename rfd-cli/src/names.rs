//! The generated request-body types the CLI names, in one place.
//!
//! The SDK is generated from our spec plus, for operations we do not serve yet, the
//! reference API's. Where our spec names a schema differently from the reference (ours:
//! `ApiKeyCreateParams`, the reference: `ApiKeyCreateParams_for_RfdPermission`), a
//! regeneration changes the generated name; only this file follows it. Bodies are built as
//! JSON and read into these types, so new optional fields never break a command.

pub use rfd_sdk::types::{
    AccessGroupUpdateParams, AddGroupBody, AddMagicLinkRedirectBody, AddOAuthClientRedirectBody,
    ApiKeyCreateParams, ApiUserEmailUpdateParams, ApiUserLinkRequestPayload, ApiUserPermissionParams,
    ApiUserProviderLinkPayload, ApiUserUpdateParams, CreateMapper, DeviceAuthorizationRequest,
    DeviceTokenExchangeRequest, MagicLinkExchangeRequest, MagicLinkSendRequest, ReserveRfdBody, RfdAttrValue,
    RfdUpdateBody, RfdUpdateContentBody, RfdVisibility, UpdateRfdAttrBody,
};
