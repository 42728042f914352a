//! Geography for geoproximity routing (#15): coordinates in Route 53's string format, the
//! great-circle distance, Route 53's documented bias, the choice of the nearest candidate, and
//! tables that put AWS Wavelength Zones, Regions and Local Zone groups on the map.
//!
//! Pure: no I/O, no clock.
//!
//! # Bias
//!
//! The Route 53 Developer Guide (*Geoproximity routing*, section *How Amazon Route 53 uses bias
//! to route traffic*) gives one formula per sign of the bias (−99..=99):
//!
//! - positive: `biased distance = actual distance × [1 − (bias / 100)]`;
//! - negative: `biased distance = actual distance / [1 + (bias / 100)]`.
//!
//! So +50 halves a distance and −50 doubles it (it does not add half). The guide's worked
//! example: A (bias +50) is 150 km from the query's source and B (no bias) 100 km; A counts as
//! 75 km and wins. See [`biased_distance_km`].
//!
//! # Distance
//!
//! Route 53 does not document how it measures the distance itself. [`distance_km`] is the
//! lab's approximation: the great circle on a sphere of the mean Earth radius
//! ([`EARTH_MEAN_RADIUS_KM`]).
//!
//! # Tables (sources read 2026-11-29)
//!
//! [`WAVELENGTH_ZONES`]: the parent Regions are those of the AWS Wavelength Developer Guide,
//! *Available Wavelength Zones*
//! (<https://docs.aws.amazon.com/wavelength/latest/developerguide/available-wavelength-zones.html>),
//! which lists US East (N. Virginia), US West (Oregon), Asia Pacific (Tokyo), Canada (Central),
//! Europe (London) and Morocco (Casablanca, under eu-west-3); it has no Frankfurt or Seoul
//! section any more, so the Vodafone Germany and SKT zones are not here. The readable part of
//! that page confirms the first us-east-1 rows (Atlanta, Boston, Charlotte, Chicago, Dallas,
//! Detroit); the other ids are from EC2 `DescribeAvailabilityZones` output in public test
//! fixtures (all of us-east-1, and eu-west-2) and from several public sources agreeing on id
//! and city (us-west-2, ap-northeast-1, ca-central-1). The Casablanca zone's id could not be
//! confirmed and is left out.
//!
//! Coordinates are the lab's: each city's centre to two decimals (what Route 53's
//! `Coordinates` accepts). AWS publishes no coordinates for zones or Regions. [`AWS_REGIONS`]
//! (the Region codes of *AWS Region billing codes*,
//! <https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-region-billing-codes.html>)
//! places a Region at the city in its display name (Tokyo, Frankfurt, …), or, where the name is
//! a state or a country, at the commonly reported location (us-east-1 Ashburn, us-west-2
//! Boardman, …). GovCloud and the China Regions are left out.
//!
//! [`LOCAL_ZONE_GROUPS`] holds the Local Zone groups whose city is known (from
//! `DescribeAvailabilityZones` output and the AWS docs' examples: `us-west-2-lax-1`,
//! `us-west-2-den-1`, `us-east-1-bue-1`, …). A group not in the table is placed at its parent
//! Region, read from the id's prefix ([`local_zone_group_coordinates`]).

/// Mean Earth radius in kilometres (IUGG), the sphere [`distance_km`] measures on.
pub const EARTH_MEAN_RADIUS_KM: f64 = 6371.0088;

/// The smallest bias Route 53 accepts on a geoproximity record.
pub const MIN_BIAS: i32 = -99;
/// The largest bias Route 53 accepts on a geoproximity record.
pub const MAX_BIAS: i32 = 99;

/// One of the two coordinates, to say which one an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// North–south, −90..=90 degrees.
    Latitude,
    /// East–west, −180..=180 degrees.
    Longitude,
}

impl Axis {
    /// `"latitude"` or `"longitude"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Latitude => "latitude",
            Self::Longitude => "longitude",
        }
    }

    /// The largest magnitude in degrees: 90 or 180.
    pub const fn limit(self) -> f64 {
        match self {
            Self::Latitude => 90.0,
            Self::Longitude => 180.0,
        }
    }

    /// The longest string Route 53 accepts for this coordinate: 6 or 7 characters.
    pub const fn max_len(self) -> usize {
        match self {
            Self::Latitude => 6,
            Self::Longitude => 7,
        }
    }

    /// Route 53's pattern for this coordinate (matched against the whole string).
    pub const fn pattern(self) -> &'static str {
        match self {
            Self::Latitude => r"[-+]?[0-9]{1,2}(\.[0-9]{0,2})?",
            Self::Longitude => r"[-+]?[0-9]{1,3}(\.[0-9]{0,2})?",
        }
    }

    const fn max_int_digits(self) -> usize {
        match self {
            Self::Latitude => 2,
            Self::Longitude => 3,
        }
    }
}

impl std::fmt::Display for Axis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a coordinate or a bias was refused: what was wrong, the input, and what is allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeoError {
    /// The value is NaN or infinite.
    #[error("{axis} {value} is not a finite number; allowed: -{limit} to {limit} degrees")]
    NotFinite {
        /// Which coordinate.
        axis: Axis,
        /// The value given.
        value: f64,
        /// The largest magnitude allowed.
        limit: f64,
    },
    /// The value is outside −90..=90 (latitude) or −180..=180 (longitude).
    #[error("{axis} {value} is out of range; allowed: -{limit} to {limit} degrees")]
    OutOfRange {
        /// Which coordinate.
        axis: Axis,
        /// The value given.
        value: f64,
        /// The largest magnitude allowed.
        limit: f64,
    },
    /// The string is empty or longer than Route 53 allows.
    #[error("{axis} {input:?} has {len} characters; Route 53 allows 1 to {max}")]
    Route53Length {
        /// Which coordinate.
        axis: Axis,
        /// The string given.
        input: String,
        /// Its length in characters.
        len: usize,
        /// The longest allowed.
        max: usize,
    },
    /// The string does not match Route 53's pattern (at most two decimals, no exponent).
    #[error("{axis} {input:?} does not match Route 53's pattern {pattern}")]
    Route53Pattern {
        /// Which coordinate.
        axis: Axis,
        /// The string given.
        input: String,
        /// The pattern it must match as a whole.
        pattern: &'static str,
    },
    /// The bias is outside −99..=99.
    #[error("bias {bias} is out of range; allowed: {min} to {max}", min = MIN_BIAS, max = MAX_BIAS)]
    BiasOutOfRange {
        /// The bias given.
        bias: i32,
    },
}

/// A point on the Earth in degrees: latitude −90..=90, longitude −180..=180, both finite.
///
/// Built by [`Coordinates::new`] or [`Coordinates::parse_route53`], which check the ranges;
/// deserializing checks them too.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "UncheckedCoordinates")]
pub struct Coordinates {
    latitude: f64,
    longitude: f64,
}

/// The serialized form, checked by `Coordinates::new` on the way in.
#[derive(serde::Deserialize)]
struct UncheckedCoordinates {
    latitude: f64,
    longitude: f64,
}

impl TryFrom<UncheckedCoordinates> for Coordinates {
    type Error = GeoError;

    fn try_from(raw: UncheckedCoordinates) -> Result<Self, GeoError> {
        Self::new(raw.latitude, raw.longitude)
    }
}

impl Coordinates {
    /// The point at `latitude`, `longitude` (degrees), refused when either is not finite or is
    /// out of range.
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, GeoError> {
        check_range(Axis::Latitude, latitude)?;
        check_range(Axis::Longitude, longitude)?;
        Ok(Self {
            latitude,
            longitude,
        })
    }

    /// For the tables below: not checked here, checked by the tests.
    const fn fixed(latitude: f64, longitude: f64) -> Self {
        Self {
            latitude,
            longitude,
        }
    }

    /// Degrees north (negative: south).
    pub const fn latitude(&self) -> f64 {
        self.latitude
    }

    /// Degrees east (negative: west).
    pub const fn longitude(&self) -> f64 {
        self.longitude
    }

    /// Reads Route 53's `Coordinates` strings exactly as the API documents them: `Latitude`
    /// 1 to 6 characters matching `[-+]?[0-9]{1,2}(\.[0-9]{0,2})?`, `Longitude` 1 to 7
    /// characters matching `[-+]?[0-9]{1,3}(\.[0-9]{0,2})?` (whole string), then the ranges
    /// −90..=90 and −180..=180 of the API's descriptions (the patterns alone allow `99` and
    /// `999`).
    pub fn parse_route53(latitude: &str, longitude: &str) -> Result<Self, GeoError> {
        let lat = parse_route53_axis(Axis::Latitude, latitude)?;
        let lon = parse_route53_axis(Axis::Longitude, longitude)?;
        Self::new(lat, lon)
    }

    /// The `(Latitude, Longitude)` strings to send to Route 53: two decimals, a `-` sign for
    /// south and west, no `+` (e.g. `("42.36", "-71.06")`). Always within the documented lengths
    /// and patterns. How Route 53 writes them back when listing is not documented.
    pub fn route53_strings(&self) -> (String, String) {
        (
            format!("{:.2}", self.latitude),
            format!("{:.2}", self.longitude),
        )
    }
}

fn check_range(axis: Axis, value: f64) -> Result<(), GeoError> {
    let limit = axis.limit();
    if !value.is_finite() {
        return Err(GeoError::NotFinite { axis, value, limit });
    }
    if !(-limit..=limit).contains(&value) {
        return Err(GeoError::OutOfRange { axis, value, limit });
    }
    Ok(())
}

/// One coordinate string, checked against Route 53's length and pattern by hand, then read as
/// hundredths of a degree (exact) and checked against the range.
fn parse_route53_axis(axis: Axis, input: &str) -> Result<f64, GeoError> {
    let len = input.chars().count();
    if len == 0 || len > axis.max_len() {
        return Err(GeoError::Route53Length {
            axis,
            input: input.to_owned(),
            len,
            max: axis.max_len(),
        });
    }
    let pattern_error = || GeoError::Route53Pattern {
        axis,
        input: input.to_owned(),
        pattern: axis.pattern(),
    };
    let (negative, unsigned) = if let Some(rest) = input.strip_prefix('-') {
        (true, rest)
    } else if let Some(rest) = input.strip_prefix('+') {
        (false, rest)
    } else {
        (false, input)
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (unsigned, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > axis.max_int_digits() || !all_digits(whole) {
        return Err(pattern_error());
    }
    if !all_digits(fraction) {
        return Err(pattern_error());
    }
    let whole_value = whole
        .bytes()
        .fold(0_u32, |acc, b| acc * 10 + u32::from(b - b'0'));
    let fraction_value = match fraction.as_bytes() {
        [] => 0,
        [tenths] => u32::from(*tenths - b'0') * 10,
        [tenths, hundredths] => u32::from(*tenths - b'0') * 10 + u32::from(*hundredths - b'0'),
        _ => return Err(pattern_error()),
    };
    // Hundredths are exact integers; one division gives the nearest f64 to the decimal.
    let magnitude = f64::from(whole_value * 100 + fraction_value) / 100.0;
    let value = if negative { -magnitude } else { magnitude };
    check_range(axis, value)?;
    Ok(value)
}

/// The great-circle distance between two points in kilometres (haversine on a sphere of radius
/// [`EARTH_MEAN_RADIUS_KM`]).
///
/// Route 53 does not document its distance model; this is the lab's approximation.
pub fn distance_km(a: Coordinates, b: Coordinates) -> f64 {
    let phi_a = a.latitude.to_radians();
    let phi_b = b.latitude.to_radians();
    let d_phi = phi_b - phi_a;
    let d_lambda = (b.longitude - a.longitude).to_radians();
    let h =
        (d_phi / 2.0).sin().powi(2) + phi_a.cos() * phi_b.cos() * (d_lambda / 2.0).sin().powi(2);
    2.0 * EARTH_MEAN_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// `bias` if Route 53 accepts it (−99..=99), else [`GeoError::BiasOutOfRange`].
pub fn check_bias(bias: i32) -> Result<i32, GeoError> {
    if (MIN_BIAS..=MAX_BIAS).contains(&bias) {
        Ok(bias)
    } else {
        Err(GeoError::BiasOutOfRange { bias })
    }
}

/// The distance Route 53 compares, per the Developer Guide's formulas: for a positive bias
/// `actual × [1 − bias/100]`, for a negative one `actual / [1 + bias/100]`, for 0 `actual`.
/// So +50 halves the distance, −50 doubles it, +99 divides it by 100, −99 multiplies it by 100.
///
/// A bias outside −99..=99 (which Route 53 refuses, see [`check_bias`]) is clamped into it.
pub fn biased_distance_km(actual_km: f64, bias: i32) -> f64 {
    let bias = bias.clamp(MIN_BIAS, MAX_BIAS);
    match bias {
        0 => actual_km,
        // Same as actual × (1 − bias/100), with the factor kept an exact integer.
        1.. => actual_km * f64::from(100 - bias) / 100.0,
        // Same as actual / (1 + bias/100).
        _ => actual_km * 100.0 / f64::from(100 + bias),
    }
}

/// The candidate with the smallest biased distance from `client` ([`distance_km`], then
/// [`biased_distance_km`] with the candidate's bias); `None` when there is none.
///
/// Ties go to the candidate given first: a later candidate replaces the best so far only when
/// it is strictly nearer, so the answer does not depend on anything but the order given.
pub fn nearest<T>(
    client: Coordinates,
    candidates: impl IntoIterator<Item = (T, Coordinates, i32)>,
) -> Option<T> {
    let mut best: Option<(T, f64)> = None;
    for (candidate, at, bias) in candidates {
        let distance = biased_distance_km(distance_km(client, at), bias);
        if best
            .as_ref()
            .is_none_or(|(_, best_distance)| distance < *best_distance)
        {
            best = Some((candidate, distance));
        }
    }
    best.map(|(candidate, _)| candidate)
}

/// An AWS Wavelength Zone and where the lab places it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WavelengthZone {
    /// The zone name (also its zone group and network border group), e.g.
    /// `us-east-1-wl1-bos-wlz-1`.
    pub id: &'static str,
    /// The city the zone serves, as AWS names it.
    pub city: &'static str,
    /// The parent Region, e.g. `us-east-1`.
    pub region: &'static str,
    /// The city's centre, to two decimals.
    pub coordinates: Coordinates,
    /// The telecommunications carrier whose network the zone sits in ([`Carrier`]): only that
    /// carrier's subscribers reach its Carrier IPs.
    pub carrier: Carrier,
}

/// A carrier that hosts Wavelength Zones (sources in docs/geo-sources.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Carrier {
    /// Verizon (United States).
    Verizon,
    /// KDDI (Japan).
    Kddi,
    /// Bell (Canada).
    Bell,
    /// Vodafone UK (United Kingdom).
    VodafoneUk,
    /// BT (United Kingdom).
    Bt,
}

impl Carrier {
    /// Every carrier, in declaration order.
    pub const ALL: [Carrier; 5] = [
        Carrier::Verizon,
        Carrier::Kddi,
        Carrier::Bell,
        Carrier::VodafoneUk,
        Carrier::Bt,
    ];

    /// The carrier's name as configuration files and output write it: lower case, `-` for
    /// spaces (`vodafone-uk`).
    pub fn as_str(self) -> &'static str {
        match self {
            Carrier::Verizon => "verizon",
            Carrier::Kddi => "kddi",
            Carrier::Bell => "bell",
            Carrier::VodafoneUk => "vodafone-uk",
            Carrier::Bt => "bt",
        }
    }

    /// The carrier named `name` ([`Carrier::as_str`]'s spelling, any case).
    pub fn parse(name: &str) -> Option<Carrier> {
        Carrier::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(name))
    }

    /// The Wavelength Zones in this carrier's network.
    pub fn zones(self) -> impl Iterator<Item = &'static WavelengthZone> {
        WAVELENGTH_ZONES.iter().filter(move |z| z.carrier == self)
    }
}

impl std::fmt::Display for Carrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An AWS Region and where the lab places it (for `AWSRegion` geoproximity records).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AwsRegion {
    /// The Region code, e.g. `eu-central-1`.
    pub id: &'static str,
    /// The city the lab places it at.
    pub city: &'static str,
    /// The city's centre, to two decimals.
    pub coordinates: Coordinates,
}

/// An AWS Local Zone group and where the lab places it (for `LocalZoneGroup` records).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalZoneGroup {
    /// The group name: the Local Zone name without its final letter, e.g. `us-west-2-lax-1`.
    pub id: &'static str,
    /// The city it is in.
    pub city: &'static str,
    /// The parent Region.
    pub region: &'static str,
    /// The city's centre, to two decimals.
    pub coordinates: Coordinates,
}

const fn wlz(
    id: &'static str,
    city: &'static str,
    region: &'static str,
    (latitude, longitude): (f64, f64),
    carrier: Carrier,
) -> WavelengthZone {
    WavelengthZone {
        id,
        city,
        region,
        coordinates: Coordinates::fixed(latitude, longitude),
        carrier,
    }
}

const fn region(id: &'static str, city: &'static str, latitude: f64, longitude: f64) -> AwsRegion {
    AwsRegion {
        id,
        city,
        coordinates: Coordinates::fixed(latitude, longitude),
    }
}

const fn lzg(
    id: &'static str,
    city: &'static str,
    region: &'static str,
    latitude: f64,
    longitude: f64,
) -> LocalZoneGroup {
    LocalZoneGroup {
        id,
        city,
        region,
        coordinates: Coordinates::fixed(latitude, longitude),
    }
}

/// The Wavelength Zones the lab knows, by parent Region (sources in the module doc).
#[rustfmt::skip]
pub const WAVELENGTH_ZONES: &[WavelengthZone] = &[
    // US East (N. Virginia), Verizon.
    wlz("us-east-1-wl1-atl-wlz-1", "Atlanta", "us-east-1", (33.75, -84.39), Carrier::Verizon),
    wlz("us-east-1-wl1-bna-wlz-1", "Nashville", "us-east-1", (36.16, -86.78), Carrier::Verizon),
    wlz("us-east-1-wl1-bos-wlz-1", "Boston", "us-east-1", (42.36, -71.06), Carrier::Verizon),
    wlz("us-east-1-wl1-chi-wlz-1", "Chicago", "us-east-1", (41.88, -87.63), Carrier::Verizon),
    wlz("us-east-1-wl1-clt-wlz-1", "Charlotte", "us-east-1", (35.23, -80.84), Carrier::Verizon),
    wlz("us-east-1-wl1-dfw-wlz-1", "Dallas", "us-east-1", (32.78, -96.80), Carrier::Verizon),
    wlz("us-east-1-wl1-dtw-wlz-1", "Detroit", "us-east-1", (42.33, -83.05), Carrier::Verizon),
    wlz("us-east-1-wl1-iah-wlz-1", "Houston", "us-east-1", (29.76, -95.37), Carrier::Verizon),
    wlz("us-east-1-wl1-mia-wlz-1", "Miami", "us-east-1", (25.76, -80.19), Carrier::Verizon),
    wlz("us-east-1-wl1-msp-wlz-1", "Minneapolis", "us-east-1", (44.98, -93.27), Carrier::Verizon),
    wlz("us-east-1-wl1-nyc-wlz-1", "New York", "us-east-1", (40.71, -74.01), Carrier::Verizon),
    wlz("us-east-1-wl1-tpa-wlz-1", "Tampa", "us-east-1", (27.95, -82.46), Carrier::Verizon),
    wlz("us-east-1-wl1-was-wlz-1", "Washington, DC", "us-east-1", (38.91, -77.04), Carrier::Verizon),
    // US West (Oregon), Verizon.
    wlz("us-west-2-wl1-den-wlz-1", "Denver", "us-west-2", (39.74, -104.99), Carrier::Verizon),
    wlz("us-west-2-wl1-las-wlz-1", "Las Vegas", "us-west-2", (36.17, -115.14), Carrier::Verizon),
    wlz("us-west-2-wl1-lax-wlz-1", "Los Angeles", "us-west-2", (34.05, -118.24), Carrier::Verizon),
    wlz("us-west-2-wl1-phx-wlz-1", "Phoenix", "us-west-2", (33.45, -112.07), Carrier::Verizon),
    wlz("us-west-2-wl1-sea-wlz-1", "Seattle", "us-west-2", (47.61, -122.33), Carrier::Verizon),
    wlz("us-west-2-wl1-sfo-wlz-1", "San Francisco Bay Area", "us-west-2", (37.77, -122.42), Carrier::Verizon),
    // Asia Pacific (Tokyo), KDDI.
    wlz("ap-northeast-1-wl1-nrt-wlz-1", "Tokyo", "ap-northeast-1", (35.69, 139.69), Carrier::Kddi),
    wlz("ap-northeast-1-wl1-kix-wlz-1", "Osaka", "ap-northeast-1", (34.69, 135.50), Carrier::Kddi),
    // Canada (Central), Bell.
    wlz("ca-central-1-wl1-yto-wlz-1", "Toronto", "ca-central-1", (43.65, -79.38), Carrier::Bell),
    // Europe (London): Vodafone UK, and BT in its second Manchester zone.
    wlz("eu-west-2-wl1-lon-wlz-1", "London", "eu-west-2", (51.51, -0.13), Carrier::VodafoneUk),
    wlz("eu-west-2-wl1-man-wlz-1", "Manchester", "eu-west-2", (53.48, -2.24), Carrier::VodafoneUk),
    wlz("eu-west-2-wl2-man-wlz-1", "Manchester", "eu-west-2", (53.48, -2.24), Carrier::Bt),
];

/// The commercial AWS Regions and the city the lab places each at (see the module doc).
#[rustfmt::skip]
// Kuala Lumpur lies at 3.14° N: a latitude, not an approximation of π.
#[allow(clippy::approx_constant)]
pub const AWS_REGIONS: &[AwsRegion] = &[
    region("us-east-1", "Ashburn, Virginia", 39.04, -77.49),
    region("us-east-2", "Columbus, Ohio", 39.96, -83.00),
    region("us-west-1", "San Jose, California", 37.34, -121.89),
    region("us-west-2", "Boardman, Oregon", 45.84, -119.70),
    region("ca-central-1", "Montréal", 45.50, -73.57),
    region("ca-west-1", "Calgary", 51.05, -114.07),
    region("mx-central-1", "Querétaro", 20.59, -100.39),
    region("sa-east-1", "São Paulo", -23.55, -46.63),
    region("eu-west-1", "Dublin", 53.35, -6.26),
    region("eu-west-2", "London", 51.51, -0.13),
    region("eu-west-3", "Paris", 48.86, 2.35),
    region("eu-central-1", "Frankfurt", 50.11, 8.68),
    region("eu-central-2", "Zurich", 47.38, 8.54),
    region("eu-north-1", "Stockholm", 59.33, 18.07),
    region("eu-south-1", "Milan", 45.46, 9.19),
    region("eu-south-2", "Zaragoza", 41.65, -0.89),
    region("il-central-1", "Tel Aviv", 32.09, 34.78),
    region("me-south-1", "Manama", 26.23, 50.59),
    region("me-central-1", "Dubai", 25.20, 55.27),
    region("af-south-1", "Cape Town", -33.92, 18.42),
    region("ap-east-1", "Hong Kong", 22.32, 114.17),
    region("ap-east-2", "Taipei", 25.03, 121.57),
    region("ap-south-1", "Mumbai", 19.08, 72.88),
    region("ap-south-2", "Hyderabad", 17.39, 78.49),
    region("ap-southeast-1", "Singapore", 1.29, 103.85),
    region("ap-southeast-2", "Sydney", -33.87, 151.21),
    region("ap-southeast-3", "Jakarta", -6.21, 106.85),
    region("ap-southeast-4", "Melbourne", -37.81, 144.96),
    region("ap-southeast-5", "Kuala Lumpur", 3.14, 101.69),
    region("ap-southeast-6", "Auckland", -36.85, 174.76),
    region("ap-southeast-7", "Bangkok", 13.76, 100.50),
    region("ap-northeast-1", "Tokyo", 35.69, 139.69),
    region("ap-northeast-2", "Seoul", 37.57, 126.98),
    region("ap-northeast-3", "Osaka", 34.69, 135.50),
];

/// Local Zone groups whose city is known; others fall back to their parent Region
/// ([`local_zone_group_coordinates`]).
#[rustfmt::skip]
pub const LOCAL_ZONE_GROUPS: &[LocalZoneGroup] = &[
    lzg("us-east-1-atl-1", "Atlanta", "us-east-1", 33.75, -84.39),
    lzg("us-east-1-bos-1", "Boston", "us-east-1", 42.36, -71.06),
    lzg("us-east-1-bue-1", "Buenos Aires", "us-east-1", -34.60, -58.38),
    lzg("us-east-1-chi-2", "Chicago", "us-east-1", 41.88, -87.63),
    lzg("us-east-1-dfw-2", "Dallas", "us-east-1", 32.78, -96.80),
    lzg("us-east-1-iah-2", "Houston", "us-east-1", 29.76, -95.37),
    lzg("us-east-1-lim-1", "Lima", "us-east-1", -12.05, -77.04),
    lzg("us-east-1-mci-1", "Kansas City", "us-east-1", 39.10, -94.58),
    lzg("us-east-1-mia-1", "Miami", "us-east-1", 25.76, -80.19),
    lzg("us-east-1-msp-1", "Minneapolis", "us-east-1", 44.98, -93.27),
    lzg("us-east-1-nyc-1", "New York", "us-east-1", 40.71, -74.01),
    lzg("us-east-1-phl-1", "Philadelphia", "us-east-1", 39.95, -75.17),
    lzg("us-east-1-qro-1", "Querétaro", "us-east-1", 20.59, -100.39),
    lzg("us-east-1-scl-1", "Santiago", "us-east-1", -33.45, -70.67),
    lzg("us-west-2-den-1", "Denver", "us-west-2", 39.74, -104.99),
    lzg("us-west-2-las-1", "Las Vegas", "us-west-2", 36.17, -115.14),
    lzg("us-west-2-lax-1", "Los Angeles", "us-west-2", 34.05, -118.24),
];

/// The Wavelength Zone `id` names, if the lab knows it: its Zone Name
/// (`us-east-1-wl1-bos-wlz-1`) or its Zone ID (`use1-wl1-bos-wlz1`, see
/// [`WavelengthZone::zone_id`]). Exact, case-sensitive match, as EC2 writes both.
pub fn wavelength_zone(id: &str) -> Option<&'static WavelengthZone> {
    WAVELENGTH_ZONES
        .iter()
        .find(|zone| zone.id == id)
        .or_else(|| {
            WAVELENGTH_ZONES
                .iter()
                .find(|zone| zone.zone_id().as_deref() == Some(id))
        })
}

/// The short code AWS puts at the head of a zone ID (`use1` in `use1-wl1-bos-wlz1`), for each
/// parent Region of [`WAVELENGTH_ZONES`] (a test holds that every parent has one). Source: the
/// `ZoneName`/`ZoneId` pairs of EC2 `DescribeAvailabilityZones` output and the public Systems
/// Manager parameters `/aws/service/global-infrastructure/wavelength-zones/<zone id>` (read
/// 2026-12-07).
const WAVELENGTH_REGION_CODES: &[(&str, &str)] = &[
    ("us-east-1", "use1"),
    ("us-west-2", "usw2"),
    ("ap-northeast-1", "apne1"),
    ("ca-central-1", "cac1"),
    ("eu-west-2", "euw2"),
];

impl WavelengthZone {
    /// The zone's Zone ID, as EC2 reports it beside the Zone Name: the Region's code, the name's
    /// middle, and `wlz` joined to its number (`us-east-1-wl1-bos-wlz-1` → `use1-wl1-bos-wlz1`).
    /// `None` only for a zone whose Region has no code in the table (none, by test).
    pub fn zone_id(&self) -> Option<String> {
        let code = WAVELENGTH_REGION_CODES
            .iter()
            .find(|(region, _)| *region == self.region)
            .map(|(_, code)| code)?;
        let rest = self.id.strip_prefix(self.region)?.strip_prefix('-')?;
        let (head, number) = rest.rsplit_once("-wlz-")?;
        Some(format!("{code}-{head}-wlz{number}"))
    }
}

/// The Region `id` (e.g. `us-east-1`), if the lab knows it.
pub fn aws_region(id: &str) -> Option<&'static AwsRegion> {
    AWS_REGIONS.iter().find(|r| r.id == id)
}

/// The Local Zone group `id` (e.g. `us-west-2-lax-1`), if it is in [`LOCAL_ZONE_GROUPS`].
pub fn local_zone_group(id: &str) -> Option<&'static LocalZoneGroup> {
    LOCAL_ZONE_GROUPS.iter().find(|group| group.id == id)
}

/// The Region a zone or zone group id belongs to, read from its prefix: the longest Region id
/// in [`AWS_REGIONS`] that `id` starts with, followed by `-` and more (so
/// `us-west-2-sea-1` → `us-west-2`; a bare Region id is not a zone and gives `None`).
pub fn parent_region(id: &str) -> Option<&'static AwsRegion> {
    AWS_REGIONS
        .iter()
        .filter(|r| {
            id.strip_prefix(r.id)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|rest| !rest.is_empty())
        })
        .max_by_key(|r| r.id.len())
}

/// Where the lab places a `LocalZoneGroup` record: the group's city when it is in
/// [`LOCAL_ZONE_GROUPS`], else its parent Region ([`parent_region`]); `None` when neither is
/// known.
pub fn local_zone_group_coordinates(id: &str) -> Option<Coordinates> {
    local_zone_group(id)
        .map(|group| group.coordinates)
        .or_else(|| parent_region(id).map(|r| r.coordinates))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    // Reference values computed independently in Python (math module, same sphere:
    // R = 6371.0088 km, haversine).
    const BOSTON_NEW_YORK_KM: f64 = 306.486_262_213_882_87;
    const NEW_YORK_WASHINGTON_KM: f64 = 327.141_258_249_076_94;
    const LONDON_TOKYO_KM: f64 = 9_558.448_180_443_798;
    const HALF_CIRCUMFERENCE_KM: f64 = 20_015.114_442_035_923;
    const ONE_DEGREE_KM: f64 = 111.195_080_233_532_9;

    fn at(latitude: f64, longitude: f64) -> Coordinates {
        Coordinates::new(latitude, longitude).expect("valid test coordinates")
    }

    fn zone(id: &str) -> Coordinates {
        wavelength_zone(id).expect("zone in the table").coordinates
    }

    fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
        (actual - expected).abs() <= tolerance
    }

    /// A point `km` north of (0, 0) along the meridian.
    fn north_of_origin(km: f64) -> Coordinates {
        at((km / EARTH_MEAN_RADIUS_KM).to_degrees(), 0.0)
    }

    #[test]
    fn new_checks_ranges_and_finiteness() {
        assert!(Coordinates::new(90.0, 180.0).is_ok());
        assert!(Coordinates::new(-90.0, -180.0).is_ok());
        assert!(matches!(
            Coordinates::new(90.01, 0.0),
            Err(GeoError::OutOfRange {
                axis: Axis::Latitude,
                ..
            })
        ));
        assert!(matches!(
            Coordinates::new(0.0, -180.5),
            Err(GeoError::OutOfRange {
                axis: Axis::Longitude,
                ..
            })
        ));
        assert!(matches!(
            Coordinates::new(f64::NAN, 0.0),
            Err(GeoError::NotFinite {
                axis: Axis::Latitude,
                ..
            })
        ));
        assert!(matches!(
            Coordinates::new(0.0, f64::INFINITY),
            Err(GeoError::NotFinite {
                axis: Axis::Longitude,
                ..
            })
        ));
    }

    #[test]
    fn errors_say_what_was_wrong_the_input_and_what_is_allowed() {
        let e = Coordinates::new(91.0, 0.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "latitude 91 is out of range; allowed: -90 to 90 degrees"
        );
        let e = Coordinates::parse_route53("12.345", "0").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"latitude "12.345" does not match Route 53's pattern [-+]?[0-9]{1,2}(\.[0-9]{0,2})?"#
        );
        let e = Coordinates::parse_route53("0", "-123.456").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"longitude "-123.456" has 8 characters; Route 53 allows 1 to 7"#
        );
        let e = check_bias(100).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bias 100 is out of range; allowed: -99 to 99"
        );
    }

    #[test]
    fn parse_route53_latitude_edge_cases() {
        let lat = |s: &str| Coordinates::parse_route53(s, "0").map(|c| c.latitude());
        assert_eq!(lat("90"), Ok(90.0));
        assert_eq!(lat("-90.00"), Ok(-90.0));
        assert_eq!(lat("+12.3"), Ok(12.3));
        assert_eq!(lat("12."), Ok(12.0));
        assert_eq!(lat("0"), Ok(0.0));
        assert_eq!(lat("-0.5"), Ok(-0.5));
        assert_eq!(lat("42.36"), Ok(42.36));
        assert_eq!(lat("+90.00"), Ok(90.0));
        // The pattern allows two integer digits; the documented range does not allow 91.
        assert!(matches!(lat("91"), Err(GeoError::OutOfRange { .. })));
        assert!(matches!(lat("90.01"), Err(GeoError::OutOfRange { .. })));
        assert!(matches!(lat("99.99"), Err(GeoError::OutOfRange { .. })));
        // At most two decimals.
        assert!(matches!(
            lat("12.345"),
            Err(GeoError::Route53Pattern { .. })
        ));
        // Empty and too long.
        assert!(matches!(
            lat(""),
            Err(GeoError::Route53Length { len: 0, max: 6, .. })
        ));
        assert!(matches!(
            lat("-12.345"),
            Err(GeoError::Route53Length { len: 7, max: 6, .. })
        ));
        // Not the pattern.
        for bad in [
            "abc", "123", "1e2", ".5", "-", "+", "--1", "+-1", "1.2.3", " 12", "12 ", "1,5", "١٢",
        ] {
            assert!(
                matches!(
                    lat(bad),
                    Err(GeoError::Route53Pattern { .. } | GeoError::Route53Length { .. })
                ),
                "{bad:?} should be refused, got {:?}",
                lat(bad)
            );
        }
    }

    #[test]
    fn parse_route53_longitude_edge_cases() {
        let lon = |s: &str| Coordinates::parse_route53("0", s).map(|c| c.longitude());
        assert_eq!(lon("180"), Ok(180.0));
        assert_eq!(lon("-180.00"), Ok(-180.0));
        assert_eq!(lon("+180.00"), Ok(180.0));
        assert_eq!(lon("-71.06"), Ok(-71.06));
        assert_eq!(lon("139.69"), Ok(139.69));
        assert_eq!(lon("7"), Ok(7.0));
        assert!(matches!(lon("181"), Err(GeoError::OutOfRange { .. })));
        assert!(matches!(lon("180.01"), Err(GeoError::OutOfRange { .. })));
        assert!(matches!(lon("999"), Err(GeoError::OutOfRange { .. })));
        assert!(matches!(lon("1800"), Err(GeoError::Route53Pattern { .. })));
        assert!(matches!(
            lon("12.345"),
            Err(GeoError::Route53Pattern { .. })
        ));
        assert!(matches!(
            lon(""),
            Err(GeoError::Route53Length { len: 0, max: 7, .. })
        ));
        assert!(matches!(
            lon("-180.000"),
            Err(GeoError::Route53Length { len: 8, max: 7, .. })
        ));
        assert!(matches!(lon("abc"), Err(GeoError::Route53Pattern { .. })));
    }

    #[test]
    fn route53_strings_have_two_decimals_and_read_back() {
        assert_eq!(
            at(42.36, -71.06).route53_strings(),
            ("42.36".to_owned(), "-71.06".to_owned())
        );
        assert_eq!(
            at(90.0, -180.0).route53_strings(),
            ("90.00".to_owned(), "-180.00".to_owned())
        );
        assert_eq!(
            at(-90.0, 180.0).route53_strings(),
            ("-90.00".to_owned(), "180.00".to_owned())
        );
        assert_eq!(
            at(12.3, 0.0).route53_strings(),
            ("12.30".to_owned(), "0.00".to_owned())
        );
        let c = at(-33.87, 151.21);
        let (lat, lon) = c.route53_strings();
        assert_eq!(Coordinates::parse_route53(&lat, &lon), Ok(c));
    }

    #[test]
    fn serde_round_trips_and_checks_ranges() {
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct Doc {
            at: Coordinates,
        }
        let doc = Doc {
            at: at(51.51, -0.13),
        };
        let text = toml::to_string(&doc).expect("serialize");
        assert_eq!(toml::from_str::<Doc>(&text).expect("read back"), doc);
        let bad = "[at]\nlatitude = 95.0\nlongitude = 0.0\n";
        assert!(toml::from_str::<Doc>(bad).is_err());
    }

    #[test]
    fn distance_sanity() {
        let d = distance_km(
            zone("us-east-1-wl1-bos-wlz-1"),
            zone("us-east-1-wl1-nyc-wlz-1"),
        );
        assert!(close(d, BOSTON_NEW_YORK_KM, 1e-6), "Boston–New York {d}");
        assert!(close(d, 306.0, 1.0), "Boston–New York ≈ 306 km, got {d}");
        let d = distance_km(
            zone("us-east-1-wl1-nyc-wlz-1"),
            zone("us-east-1-wl1-was-wlz-1"),
        );
        assert!(
            close(d, NEW_YORK_WASHINGTON_KM, 1e-6),
            "New York–Washington {d}"
        );
        let london = aws_region("eu-west-2").expect("London").coordinates;
        let tokyo = aws_region("ap-northeast-1").expect("Tokyo").coordinates;
        assert!(close(distance_km(london, tokyo), LONDON_TOKYO_KM, 1e-6));
        // Symmetric, zero to itself.
        assert_eq!(distance_km(london, tokyo), distance_km(tokyo, london));
        assert_eq!(distance_km(london, london), 0.0);
        // Half the circumference pole to pole and between antipodes; one degree of latitude.
        assert!(close(
            distance_km(at(90.0, 0.0), at(-90.0, 0.0)),
            HALF_CIRCUMFERENCE_KM,
            1e-6
        ));
        assert!(close(
            distance_km(at(0.0, 0.0), at(0.0, 180.0)),
            HALF_CIRCUMFERENCE_KM,
            1e-6
        ));
        assert!(close(
            distance_km(at(0.0, 0.0), at(1.0, 0.0)),
            ONE_DEGREE_KM,
            1e-9
        ));
        // Across the antimeridian: 179.5 E to 179.5 W is one degree of longitude on the equator.
        assert!(close(
            distance_km(at(0.0, 179.5), at(0.0, -179.5)),
            ONE_DEGREE_KM,
            1e-6
        ));
    }

    #[test]
    fn bias_follows_the_documented_formulas() {
        // The guide: a positive bias of 50 halves the distance; 150 km counts as 75 km.
        assert_eq!(biased_distance_km(150.0, 50), 75.0);
        // Negative: divided by 1 + bias/100, so −50 doubles (100 km → 200 km), −25 → 133.33 km.
        assert_eq!(biased_distance_km(100.0, -50), 200.0);
        assert!(close(
            biased_distance_km(100.0, -25),
            133.333_333_333_333_34,
            1e-9
        ));
        assert_eq!(biased_distance_km(100.0, 25), 75.0);
        // The extremes and zero.
        assert_eq!(biased_distance_km(100.0, 99), 1.0);
        assert_eq!(biased_distance_km(100.0, -99), 10_000.0);
        assert_eq!(biased_distance_km(123.4, 0), 123.4);
        // Outside the range: clamped, and refused by check_bias.
        assert_eq!(biased_distance_km(100.0, 150), 1.0);
        assert_eq!(biased_distance_km(100.0, -100), 10_000.0);
        assert_eq!(check_bias(MIN_BIAS), Ok(-99));
        assert_eq!(check_bias(MAX_BIAS), Ok(99));
        assert_eq!(check_bias(0), Ok(0));
        assert_eq!(
            check_bias(-100),
            Err(GeoError::BiasOutOfRange { bias: -100 })
        );
        // Positive bias never increases a distance, negative never decreases it.
        for bias in MIN_BIAS..=MAX_BIAS {
            let d = biased_distance_km(250.0, bias);
            if bias > 0 {
                assert!(d < 250.0, "bias {bias}: {d}");
            } else if bias < 0 {
                assert!(d > 250.0, "bias {bias}: {d}");
            }
        }
    }

    #[test]
    fn the_guides_worked_example() {
        // Web server A is 150 km from the query's source, web server B 100 km.
        let client = at(0.0, 0.0);
        let a = north_of_origin(150.0);
        let b = north_of_origin(100.0);
        assert!(close(distance_km(client, a), 150.0, 1e-9));
        assert!(close(distance_km(client, b), 100.0, 1e-9));
        // Without bias: B, the nearer.
        assert_eq!(nearest(client, [("A", a, 0), ("B", b, 0)]), Some("B"));
        // A with +50 counts as 75 km: A.
        assert_eq!(nearest(client, [("A", a, 50), ("B", b, 0)]), Some("A"));
        // +33 is not enough (150 × 0.67 = 100.5 km), +34 is (99 km).
        assert_eq!(nearest(client, [("A", a, 33), ("B", b, 0)]), Some("B"));
        assert_eq!(nearest(client, [("A", a, 34), ("B", b, 0)]), Some("A"));
        // A negative bias on B does it too: −34 makes 100 km into 151.5 km.
        assert_eq!(nearest(client, [("A", a, 0), ("B", b, -34)]), Some("A"));
        assert_eq!(nearest(client, [("A", a, 0), ("B", b, -33)]), Some("B"));
    }

    #[test]
    fn a_client_nearer_one_zone_moves_once_the_other_is_biased_enough() {
        // A client in New York with zones in Boston (306.49 km) and Washington (327.14 km).
        let client = zone("us-east-1-wl1-nyc-wlz-1");
        let bos = zone("us-east-1-wl1-bos-wlz-1");
        let was = zone("us-east-1-wl1-was-wlz-1");
        let pick = |bos_bias: i32, was_bias: i32| {
            nearest(client, [("bos", bos, bos_bias), ("was", was, was_bias)])
        };
        assert_eq!(pick(0, 0), Some("bos"));
        // Washington +6: 307.51 km, still farther; +7: 304.24 km, nearer.
        assert_eq!(pick(0, 6), Some("bos"));
        assert_eq!(pick(0, 7), Some("was"));
        // Boston −6: 326.05 km, still nearer; −7: 329.56 km, farther.
        assert_eq!(pick(-6, 0), Some("bos"));
        assert_eq!(pick(-7, 0), Some("was"));
    }

    #[test]
    fn nearest_breaks_ties_by_the_order_given() {
        let client = at(40.0, -75.0);
        let spot = at(41.0, -75.0);
        assert_eq!(nearest(client, [(1, spot, 0), (2, spot, 0)]), Some(1));
        assert_eq!(nearest(client, [(2, spot, 0), (1, spot, 0)]), Some(2));
        // Manchester has two zones at the same coordinates: the first listed wins.
        let manchester = zone("eu-west-2-wl1-man-wlz-1");
        let all = WAVELENGTH_ZONES.iter().map(|z| (z.id, z.coordinates, 0));
        assert_eq!(nearest(manchester, all), Some("eu-west-2-wl1-man-wlz-1"));
        // Empty: none.
        assert_eq!(nearest(client, Vec::<((), Coordinates, i32)>::new()), None);
    }

    #[test]
    fn every_zone_is_its_own_nearest() {
        for z in WAVELENGTH_ZONES {
            let all = WAVELENGTH_ZONES.iter().map(|w| (w, w.coordinates, 0));
            let best = nearest(z.coordinates, all).expect("a zone");
            assert_eq!(best.coordinates, z.coordinates, "{}", z.id);
        }
    }

    fn assert_valid_table_coordinates(what: &str, c: Coordinates) {
        assert_eq!(
            Coordinates::new(c.latitude(), c.longitude()),
            Ok(c),
            "{what}: out of range"
        );
        // Two decimals: what Route 53 accepts, and it reads back unchanged.
        let (lat, lon) = c.route53_strings();
        assert_eq!(Coordinates::parse_route53(&lat, &lon), Ok(c), "{what}");
    }

    /// Every carrier hosts a zone, and a carrier's zones are exactly the table's rows naming it
    /// (the two Manchester zones are two carriers: a client of one cannot reach the other).
    #[test]
    fn carriers_split_the_zones() {
        let mut counted = 0;
        for c in Carrier::ALL {
            let zones: Vec<&str> = c.zones().map(|z| z.id).collect();
            assert!(!zones.is_empty(), "{c} hosts no zone");
            counted += zones.len();
        }
        assert_eq!(counted, WAVELENGTH_ZONES.len());
        assert_eq!(Carrier::Verizon.zones().count(), 19);
        let man = |id| wavelength_zone(id).map(|z| z.carrier);
        assert_eq!(man("eu-west-2-wl1-man-wlz-1"), Some(Carrier::VodafoneUk));
        assert_eq!(man("eu-west-2-wl2-man-wlz-1"), Some(Carrier::Bt));
        assert_eq!(Carrier::parse("Vodafone-UK"), Some(Carrier::VodafoneUk));
        assert_eq!(Carrier::parse("t-mobile"), None);
    }

    #[test]
    fn every_wavelength_zone_is_valid() {
        let mut ids = HashSet::new();
        for z in WAVELENGTH_ZONES {
            assert!(ids.insert(z.id), "duplicate zone {}", z.id);
            assert_valid_table_coordinates(z.id, z.coordinates);
            assert!(
                aws_region(z.region).is_some(),
                "{}: unknown region {}",
                z.id,
                z.region
            );
            assert_eq!(
                parent_region(z.id).map(|r| r.id),
                Some(z.region),
                "{}",
                z.id
            );
            assert!(z.id.starts_with(&format!("{}-wl", z.region)), "{}", z.id);
            assert!(z.id.ends_with("-wlz-1"), "{}", z.id);
            assert!(!z.city.is_empty());
            assert_eq!(wavelength_zone(z.id), Some(z));
            assert_eq!(Carrier::parse(z.carrier.as_str()), Some(z.carrier));
        }
        assert_eq!(
            wavelength_zone("us-east-1-wl1-bos-wlz-1").map(|z| z.city),
            Some("Boston")
        );
        assert_eq!(wavelength_zone("us-east-1"), None);
        assert_eq!(wavelength_zone("eu-central-1-wl1-ber-wlz-1"), None);
    }

    #[test]
    fn a_zone_is_found_by_its_zone_id_too() {
        // Pairs as EC2 and Systems Manager publish them (sources in WAVELENGTH_REGION_CODES).
        for (zone_id, name) in [
            ("use1-wl1-bos-wlz1", "us-east-1-wl1-bos-wlz-1"),
            ("use1-wl1-nyc-wlz1", "us-east-1-wl1-nyc-wlz-1"),
            ("usw2-wl1-las-wlz1", "us-west-2-wl1-las-wlz-1"),
            ("apne1-wl1-nrt-wlz1", "ap-northeast-1-wl1-nrt-wlz-1"),
            ("cac1-wl1-yto-wlz1", "ca-central-1-wl1-yto-wlz-1"),
            ("euw2-wl1-lon-wlz1", "eu-west-2-wl1-lon-wlz-1"),
            ("euw2-wl2-man-wlz1", "eu-west-2-wl2-man-wlz-1"),
        ] {
            assert_eq!(
                wavelength_zone(zone_id).map(|z| z.id),
                Some(name),
                "{zone_id}"
            );
            assert_eq!(
                wavelength_zone(name).and_then(|z| z.zone_id()).as_deref(),
                Some(zone_id)
            );
        }
        let mut zone_ids = HashSet::new();
        for z in WAVELENGTH_ZONES {
            let zone_id = z
                .zone_id()
                .unwrap_or_else(|| panic!("{}: no zone id", z.id));
            assert!(
                zone_ids.insert(zone_id.clone()),
                "duplicate zone id {zone_id}"
            );
            assert_ne!(zone_id, z.id);
            assert_eq!(wavelength_zone(&zone_id), Some(z));
        }
        assert_eq!(wavelength_zone("USE1-WL1-BOS-WLZ1"), None);
        assert_eq!(wavelength_zone("use1-wl1-bos-wlz-1"), None);
        assert_eq!(wavelength_zone("use1-az1"), None);
    }

    #[test]
    fn every_region_is_valid() {
        let mut ids = HashSet::new();
        for r in AWS_REGIONS {
            assert!(ids.insert(r.id), "duplicate region {}", r.id);
            assert_valid_table_coordinates(r.id, r.coordinates);
            assert!(!r.city.is_empty());
            assert_eq!(aws_region(r.id), Some(r));
            // A Region is not a zone of another Region.
            assert_eq!(parent_region(r.id), None, "{}", r.id);
        }
        assert_eq!(
            aws_region("us-east-1").map(|r| r.city),
            Some("Ashburn, Virginia")
        );
        assert_eq!(aws_region("us-east-1-wl1-bos-wlz-1"), None);
    }

    #[test]
    fn every_local_zone_group_is_valid_and_others_fall_back_to_their_region() {
        let mut ids = HashSet::new();
        for g in LOCAL_ZONE_GROUPS {
            assert!(ids.insert(g.id), "duplicate group {}", g.id);
            assert_valid_table_coordinates(g.id, g.coordinates);
            assert_eq!(
                parent_region(g.id).map(|r| r.id),
                Some(g.region),
                "{}",
                g.id
            );
            assert_eq!(local_zone_group(g.id), Some(g));
            assert_eq!(local_zone_group_coordinates(g.id), Some(g.coordinates));
        }
        assert_eq!(
            local_zone_group("us-west-2-lax-1").map(|g| g.city),
            Some("Los Angeles")
        );
        // Not in the table: the parent Region's place.
        let oregon = aws_region("us-west-2").expect("us-west-2").coordinates;
        assert_eq!(local_zone_group("us-west-2-sea-1"), None);
        assert_eq!(
            local_zone_group_coordinates("us-west-2-sea-1"),
            Some(oregon)
        );
        assert_eq!(local_zone_group_coordinates("zz-nowhere-9-abc-1"), None);
        assert_eq!(local_zone_group_coordinates("us-west-2"), None);
        assert_eq!(local_zone_group_coordinates("us-west-2-"), None);
    }

    #[test]
    fn parent_region_reads_the_prefix() {
        assert_eq!(
            parent_region("us-east-1-bue-1").map(|r| r.id),
            Some("us-east-1")
        );
        assert_eq!(
            parent_region("ap-northeast-1-wl1-kix-wlz-1").map(|r| r.id),
            Some("ap-northeast-1")
        );
        assert_eq!(
            parent_region("eu-west-2-wl2-man-wlz-1").map(|r| r.id),
            Some("eu-west-2")
        );
        assert_eq!(parent_region("us-east-1"), None);
        assert_eq!(parent_region("us-east-12-x"), None);
        assert_eq!(parent_region(""), None);
    }
}
