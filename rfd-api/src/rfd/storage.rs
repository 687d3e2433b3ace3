//! `GET /storage/{key}`: the local storage directory the processor writes images and
//! PDFs to, served with each file's content type and under each RFD's visibility.
//!
//! Only the processor's key shapes are served — `rfd/NNNN/<commit or latest>/<path>` and
//! `pdf/NNNN/<commit>.pdf` — and only when the caller may read RFD NNNN; anything else,
//! a missing file, or an unreadable RFD is the same 404.

use dropshot::{Body, HttpError};
use http::{Response, StatusCode, header};
use rfd_model::Store;
use rfd_model::storage::{BlobStore, validate_key};

use super::read::{ReadServices, readable_rfd};
use crate::caller::Caller;
use crate::error::not_found;

/// The RFD a storage key belongs to, if the key has one of the processor's shapes.
pub fn rfd_of_key(segments: &[String]) -> Option<i32> {
    let number = match segments {
        [kind, number, _revision, _file, ..] if kind == "rfd" => number,
        [kind, number, file] if kind == "pdf" && file.ends_with(".pdf") => number,
        _ => return None,
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

fn file_not_found() -> HttpError {
    not_found("file")
}

/// Serves one file of the local storage directory.
pub async fn serve(
    services: &ReadServices,
    store: &Store,
    caller: &Caller,
    segments: Vec<String>,
) -> Result<Response<Body>, HttpError> {
    let Some(storage) = &services.storage else { return Err(file_not_found()) };
    let key = segments.join("/");
    if validate_key(&key).is_err() {
        return Err(file_not_found());
    }
    let number = rfd_of_key(&segments).ok_or_else(file_not_found)?;
    // Unreadable and missing RFDs give the file's 404, so the answer says nothing more
    // about an RFD than about a file that is not there.
    let rfd = readable_rfd(store, caller, number).await.map_err(|_| file_not_found())?;
    let blob = match storage.get(&key).await {
        Ok(Some(blob)) => blob,
        Ok(None) => return Err(file_not_found()),
        Err(err) => {
            tracing::error!(error = %err, "reading local storage");
            return Err(HttpError::for_internal_error(format!("reading {key}")));
        }
    };
    let cache = match rfd.visibility {
        rfd_model::Visibility::Public => "public, max-age=60",
        rfd_model::Visibility::Private => "private, no-store",
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, blob.content_type)
        .header(header::CACHE_CONTROL, cache)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        // An SVG or HTML file opened from here must not run scripts in the API's origin.
        .header(header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; sandbox")
        .body(Body::from(blob.bytes))
        .map_err(|err| HttpError::for_internal_error(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> Vec<String> {
        text.split('/').map(str::to_string).collect()
    }

    #[test]
    fn keys_name_their_rfd() {
        assert_eq!(rfd_of_key(&key("rfd/0042/abc/figures/a.png")), Some(42));
        assert_eq!(rfd_of_key(&key("rfd/0042/latest/a.png")), Some(42));
        assert_eq!(rfd_of_key(&key("pdf/0007/abc.pdf")), Some(7));
        for other in ["rfd/0042/a.png", "pdf/0007/abc.png", "x/0001/a/b", "rfd/-1/a/b", "rfd/4x/a/b", "pdf"] {
            assert_eq!(rfd_of_key(&key(other)), None, "{other}");
        }
    }
}
