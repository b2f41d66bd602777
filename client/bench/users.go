package bench

import (
	"fmt"
	"math/rand/v2"

	eventgrpcv1 "github.com/event-grpc/event-grpc/gen/eventgrpc/v1"
)

// UserCount is the number of synthetic users (each with one device and one
// session) the load is spread over.
const UserCount = 1000

// platform is one kind of client, with the values its headers carry.
type platform struct {
	weight      float64
	clientID    string
	clientType  string
	channel     string
	os          []string
	osVersions  map[string][]string
	models      map[string][]string
	appVersions []string
	sdkVersions []string
}

var platforms = []platform{
	{
		weight: 55, clientID: "app-android", clientType: "android", channel: "app",
		os:          []string{"android"},
		osVersions:  map[string][]string{"android": {"11", "12", "13", "14", "14", "15"}},
		models:      map[string][]string{"android": {"Pixel 8", "SM-S918B", "SM-A546E", "Redmi Note 12 Pro", "OnePlus 11", "moto g54", "vivo Y36", "RMX3771"}},
		appVersions: []string{"5.12.0", "5.12.0", "5.12.0", "5.11.2", "5.10.4"},
		sdkVersions: []string{"2.3.1", "2.3.1", "2.3.0", "2.2.7"},
	},
	{
		weight: 25, clientID: "app-ios", clientType: "ios", channel: "app",
		os:          []string{"ios"},
		osVersions:  map[string][]string{"ios": {"17.4.1", "17.5", "17.6.1", "18.0.1", "18.1"}},
		models:      map[string][]string{"ios": {"iPhone15,2", "iPhone15,4", "iPhone14,5", "iPhone16,1", "iPhone13,2", "iPhone17,1"}},
		appVersions: []string{"5.12.0", "5.12.0", "5.11.1", "5.10.3"},
		sdkVersions: []string{"2.3.1", "2.3.0"},
	},
	{
		weight: 14, clientID: "mweb", clientType: "mweb", channel: "web",
		os:          []string{"android", "android", "ios"},
		osVersions:  map[string][]string{"android": {"13", "14"}, "ios": {"17.5", "18.1"}},
		models:      map[string][]string{"android": {"Chrome Mobile 130", "Samsung Internet 26"}, "ios": {"Mobile Safari 18"}},
		appVersions: []string{"web-2024.11.18", "web-2024.11.11"},
		sdkVersions: []string{"js-2.3.1", "js-2.3.0"},
	},
	{
		weight: 6, clientID: "web-desktop", clientType: "desktop", channel: "web",
		os:          []string{"windows", "windows", "macos"},
		osVersions:  map[string][]string{"windows": {"10", "11"}, "macos": {"14.6", "15.1"}},
		models:      map[string][]string{"windows": {"Chrome 130", "Edge 130"}, "macos": {"Safari 18", "Chrome 130"}},
		appVersions: []string{"web-2024.11.18"},
		sdkVersions: []string{"js-2.3.1"},
	},
}

// attribution is one coherent set of utm values.
type attribution struct {
	referrer, platform, source, medium, campaign string
}

var attributions = []attribution{
	{"https://www.google.com/", "google_ads", "google", "cpc", "winter_collection_2024"},
	{"https://www.google.com/", "organic", "google", "organic", "seo_brand"},
	{"https://www.instagram.com/", "meta", "instagram", "social", "festive_reels_q4"},
	{"https://m.facebook.com/", "meta", "facebook", "cpc", "app_install_q4"},
	{"android-app://com.google.android.gm", "email", "newsletter", "email", "weekly_deals_47"},
	{"https://wa.me/", "whatsapp", "whatsapp", "referral", "refer_and_earn"},
	{"https://www.youtube.com/", "google_ads", "youtube", "video", "live_shopping_launch"},
}

var (
	languages = []string{"en-IN", "en-IN", "en-IN", "hi-IN", "hi-IN", "ta-IN", "te-IN", "bn-IN", "mr-IN", "kn-IN", "en-US"}
	timezones = []string{"Asia/Kolkata", "Asia/Kolkata", "Asia/Kolkata", "Asia/Kolkata", "Asia/Kolkata", "Asia/Dubai", "Europe/London", "America/New_York", "Asia/Singapore"}
	merchants = []string{"mrc_001", "mrc_001", "mrc_001", "mrc_002", "mrc_007"}
	partners  = []string{"pp_organic", "pp_organic", "pp_paytm", "pp_phonepe", "pp_jio"}
	networks  = []string{"wifi", "wifi", "4g", "4g", "5g", "3g"}
	landings  = []string{"/", "/", "/feed", "/live", "/c/women-kurtas", "/c/sneakers", "/p/prd_000142", "/search?q=kurta"}
)

// newUsers builds n synthetic users' headers. clientID, when not empty,
// replaces every header's clientId.
func newUsers(r *rand.Rand, n int, clientID string) []*eventgrpcv1.Header {
	total := 0.0
	for _, p := range platforms {
		total += p.weight
	}
	out := make([]*eventgrpcv1.Header, n)
	for i := range out {
		var p *platform
		x := r.Float64() * total
		for j := range platforms {
			p = &platforms[j]
			if x < p.weight {
				break
			}
			x -= p.weight
		}
		os := pick(r, p.os...)
		a := pick(r, attributions...)
		h := &eventgrpcv1.Header{
			SessionId:            uuid4(r),
			BbDeviceId:           "bb." + hexString(r, 24),
			UserId:               fmt.Sprintf("usr_%07d", 1_000_000+i*37%9_000_000),
			DeviceId:             uuid4(r),
			AndroidAdvertisingId: uuid4(r),
			ClientId:             p.clientID,
			Channel:              p.channel,
			Os:                   os,
			ClientType:           p.clientType,
			AppLanguage:          pick(r, languages...),
			MerchantId:           pick(r, merchants...),
			PpId:                 pick(r, partners...),
			AppVersion:           pick(r, p.appVersions...),
			CurrentURL:           siteURL + pick(r, landings...),
			UtmReferrer:          a.referrer,
			UtmPlatform:          a.platform,
			UtmSource:            a.source,
			UtmMedium:            a.medium,
			UtmCampaign:          a.campaign,
			OsVersion:            pick(r, p.osVersions[os]...),
			DeviceModel:          pick(r, p.models[os]...),
			NetworkType:          pick(r, networks...),
			Timezone:             pick(r, timezones...),
			SdkVersion:           pick(r, p.sdkVersions...),
		}
		if clientID != "" {
			h.ClientId = clientID
		}
		out[i] = h
	}
	return out
}
