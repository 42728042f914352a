//! The CIDR collection operations: CreateCidrCollection, ListCidrCollections,
//! ChangeCidrCollection, ListCidrLocations, ListCidrBlocks and DeleteCidrCollection.
//!
//! The three listings take `maxresults` (default and most: [`super::MAX_PAGE`]) and `nexttoken`
//! (opaque, [`PageToken`]) and answer in a stable order.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::StatusCode;

use super::{
    CidrError, Listing, PageToken, check_changes, check_collection_id, check_location_name,
    max_results, page, xml,
};
use crate::api::reply::{ApiError, ApiResult, ok, parse_body};
use crate::shared::Shared;
use crate::store::StoreError;

/// A listing's `maxresults` and `nexttoken`.
fn paging(
    query: &HashMap<String, String>,
    listing: Listing,
) -> Result<(usize, Option<PageToken>), ApiError> {
    let refused = |e: CidrError| ApiError::from(StoreError::from(e));
    let max = max_results(query.get("maxresults").map(String::as_str)).map_err(refused)?;
    let token = query
        .get("nexttoken")
        .map(|t| PageToken::decode(listing, t))
        .transpose()
        .map_err(refused)?;
    Ok((max, token))
}

/// `POST /2013-04-01/cidrcollection`: 201 with `Location`, also for a retry (the same name and
/// caller reference), which returns the existing collection.
pub(crate) async fn create(shared: &Shared, body: &Bytes) -> ApiResult {
    let req = parse_body(body, xml::parse_create).await?;
    let (collection, created) = shared
        .mutate(|store, _| store.create_cidr_collection(&req.name, &req.caller_reference))
        .await?;
    if created {
        tracing::info!(id = %collection.id, name = %collection.name, "CIDR collection created");
    }
    let mut resp = ok(
        StatusCode::CREATED,
        "CreateCidrCollectionResponse",
        &xml::collection(&collection),
    );
    if let Ok(v) = format!("/2013-04-01/cidrcollection/{}", collection.id).parse() {
        resp.headers_mut().insert("location", v);
    }
    Ok(resp)
}

/// `GET /2013-04-01/cidrcollection`: by name, then id.
pub(crate) async fn list(shared: &Shared, query: &HashMap<String, String>) -> ApiResult {
    let (max, token) = paging(query, Listing::Collections)?;
    let store = shared.store.lock().await;
    let mut all: Vec<_> = store.cidr_collections().collect();
    all.sort_unstable_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    let (items, next) = page(
        all,
        |c| PageToken::Collection(c.name.clone(), c.id.clone()),
        token.as_ref(),
        max,
    );
    let inner = xml::listing(
        "CidrCollections",
        items.into_iter().map(xml::collection_fields),
        next.map(|t| t.encode()).as_deref(),
    );
    Ok(ok(StatusCode::OK, "ListCidrCollectionsResponse", &inner))
}

/// `POST /2013-04-01/cidrcollection/{id}`: the changes are checked before the collection is
/// looked up (an `InvalidInput` comes first, as Route 53's validation does); the answer's `Id`
/// is a change GetChange knows.
pub(crate) async fn change(shared: &Shared, id: &str, body: &Bytes) -> ApiResult {
    check_collection_id(id).map_err(StoreError::from)?;
    let req = parse_body(body, xml::parse_change).await?;
    let changes = check_changes(&req.changes).map_err(StoreError::from)?;
    let change = shared
        .mutate(|store, now| store.change_cidr_collection(id, req.version, &changes, now))
        .await?;
    Ok(ok(
        StatusCode::OK,
        "ChangeCidrCollectionResponse",
        &format!("<Id>{}</Id>", crate::xml::esc(&change.id)),
    ))
}

/// `GET /2013-04-01/cidrcollection/{id}`: the collection's locations, by name.
pub(crate) async fn list_locations(
    shared: &Shared,
    id: &str,
    query: &HashMap<String, String>,
) -> ApiResult {
    let (max, token) = paging(query, Listing::Locations)?;
    let store = shared.store.lock().await;
    let collection = store.find_cidr_collection(id)?;
    let (items, next) = page(
        collection.locations(),
        |l| PageToken::Location((*l).to_owned()),
        token.as_ref(),
        max,
    );
    let inner = xml::listing(
        "CidrLocations",
        items.into_iter().map(xml::location),
        next.map(|t| t.encode()).as_deref(),
    );
    Ok(ok(StatusCode::OK, "ListCidrLocationsResponse", &inner))
}

/// `GET /2013-04-01/cidrcollection/{id}/cidrblocks`: by location, then block; with `location`,
/// that location's only (`NoSuchCidrLocationException` when the collection has no such
/// location).
pub(crate) async fn list_blocks(
    shared: &Shared,
    id: &str,
    query: &HashMap<String, String>,
) -> ApiResult {
    let (max, token) = paging(query, Listing::Blocks)?;
    let location = query.get("location").map(String::as_str);
    if let Some(l) = location {
        check_location_name(l).map_err(StoreError::from)?;
    }
    let store = shared.store.lock().await;
    let collection = store.find_cidr_collection(id)?;
    let blocks: Vec<_> = collection
        .blocks_by_location()
        .into_iter()
        .filter(|(l, _)| location.is_none_or(|want| *l == want))
        .collect();
    if let Some(l) = location
        && blocks.is_empty()
    {
        return Err(StoreError::from(CidrError::NoSuchLocation(l.to_owned())).into());
    }
    let (items, next) = page(
        blocks,
        |(l, b)| PageToken::Block((*l).to_owned(), *b),
        token.as_ref(),
        max,
    );
    let inner = xml::listing(
        "CidrBlocks",
        items.iter().map(|(l, b)| xml::block(l, b)),
        next.map(|t| t.encode()).as_deref(),
    );
    Ok(ok(StatusCode::OK, "ListCidrBlocksResponse", &inner))
}

/// `DELETE /2013-04-01/cidrcollection/{id}`: only an empty collection.
pub(crate) async fn delete(shared: &Shared, id: &str) -> ApiResult {
    shared
        .mutate(|store, _| store.delete_cidr_collection(id))
        .await?;
    tracing::info!(id = %id, "CIDR collection deleted");
    Ok(ok(StatusCode::OK, "DeleteCidrCollectionResponse", ""))
}
