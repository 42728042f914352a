//! TEMP STUB
use serde::{Deserialize, Serialize};
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Coordinates {
    pub latitude: f64,
    pub longitude: f64,
}
#[derive(Debug, thiserror::Error)]
#[error("bad")]
pub struct GeoError;
impl Coordinates {
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, GeoError> {
        Ok(Self {
            latitude,
            longitude,
        })
    }
    pub fn parse_route53(lat: &str, lon: &str) -> Result<Self, GeoError> {
        Self::new(
            lat.parse().map_err(|_| GeoError)?,
            lon.parse().map_err(|_| GeoError)?,
        )
    }
}
pub const MIN_BIAS: i32 = -99;
pub const MAX_BIAS: i32 = 99;
pub struct AwsRegion {
    pub id: &'static str,
    pub city: &'static str,
    pub coordinates: Coordinates,
}
pub struct LocalZoneGroup {
    pub id: &'static str,
    pub city: &'static str,
    pub coordinates: Coordinates,
}
pub fn aws_region(_id: &str) -> Option<&'static AwsRegion> {
    None
}
pub fn local_zone_group(_id: &str) -> Option<&'static LocalZoneGroup> {
    None
}
pub fn distance_km(a: Coordinates, b: Coordinates) -> f64 {
    (a.latitude - b.latitude).abs() + (a.longitude - b.longitude).abs()
}
pub fn biased_distance_km(actual_km: f64, bias: i32) -> f64 {
    actual_km * (1.0 - f64::from(bias) / 100.0)
}
