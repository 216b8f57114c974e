"""The one table of meeting services that join-link recognition knows.

Each row says which host names a service lives on (``domains``: index keys, matched as a
suffix of the URL's host; ``meet.*`` style keys match a host *prefix*, for self-hosted
products) and which URLs on those hosts are meeting links (``pattern``, an RE2 expression
anchored at the start of ``host/path?query#fragment``, host lower-cased, case-insensitive).
``exclude`` lists vendor pages on the same hosts that look like rooms but are not (pricing,
docs, downloads). ``example`` is a realistic join URL: the tests check every row with it.

Adding a service is adding a row; no code changes. Patterns are our own, written from the
services' published invitation formats. The checklist of services came from MeetingBar
(github.com/leits/MeetingBar: ``MeetingBar/Meetings/MeetingProvider.swift`` now, formerly
``MeetingServices.swift``; every one of its services has a row here, see the tests); where
MeetingBar accepts any path on a vendor host (``webex.com/[^\\s]*``) we are stricter so that
home, pricing and help pages are not mistaken for meetings.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    """One meeting service: its slug, display name, hosts and join-URL shape."""

    slug: str  # the service's own name, lower-case kebab-case; stable (stored in the index)
    name: str  # display name for people (CLI, admin pages)
    domains: tuple[str, ...]  # host suffixes ("zoom.us") or host prefixes ("meet.*")
    pattern: str  # RE2, anchored at the start of "host/path?query#fragment"
    example: str  # a realistic join URL
    exclude: str | None = None  # RE2 of look-alike vendor pages, same anchoring


_S = r"(?:[a-z0-9-]+\.)*"  # any sub-domains
_END = r"(?:[/?#]|$)"  # end of a path segment
_ZOOM_PATH = (r"/(?:(?:j|w)/\d{9,12}|my/[\w.-]+|wc/(?:join/)?\d{9,12}|"
              r"join\?(?:[^#]*&)?confno=\d+|(?:meeting|webinar)/register/[\w-]+)")

SERVICES: tuple[Service, ...] = (
    # --- the big ones -------------------------------------------------------------------
    Service("webex", "Webex", ("webex.com", "webex.com.cn"),
            _S + r"webex\.com(?:\.cn)?/(?:(?:meet|join)/[\w.@%+-]+|(?:[\w-]+/)?(?:k2/)?[je]\.php\?"
            r"(?:[^#]*&)?MTID=|(?:[\w-]+/)?onstage/g\.php\?(?:[^#]*&)?MTID=|wbxmjs/joinservice/.+|"
            r"webappng/sites/[\w-]+/(?:meeting|webinar)/(?:info|download)/.+)",
            "https://acme.webex.com/acme/j.php?MTID=m0123456789abcdef0123456789abcdef"),
    Service("zoom", "Zoom", ("zoom.us", "zoom.com", "zoom.com.cn"),
            _S + r"zoom\.(?:us|com|com\.cn)" + _ZOOM_PATH,
            "https://us02web.zoom.us/j/81234567890?pwd=Q2xvY2tUb3dlcjEyMw.1"),
    Service("zoom-gov", "ZoomGov", ("zoomgov.com",), _S + r"zoomgov\.com" + _ZOOM_PATH,
            "https://agency.zoomgov.com/j/1612345678?pwd=abcDEF123"),
    Service("zoom-events", "Zoom Events", ("events.zoom.us",),
            r"events\.zoom\.us/(?:ev|e/view|ej)/[\w-]+",
            "https://events.zoom.us/ev/AbCdEfGh123~Ap1q"),
    Service("microsoft-teams", "Microsoft Teams",
            ("teams.microsoft.com", "teams.live.com", "teams.microsoft.us", "teams.cloud.microsoft"),
            r"(?:teams\.microsoft\.com|(?:gov\.|dod\.)?teams\.microsoft\.us|teams\.cloud\.microsoft|"
            r"teams\.live\.com)/(?:(?:_#/)?l/meetup-join/.+|meet/\d{6,}|"
            r"dl/launcher/launcher\.html\?url=%2F_%23%2Fl%2Fmeetup-join.+)",
            "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjA4ZTJh%40thread.v2/0"
            "?context=%7b%22Tid%22%3a%2272f988bf%22%2c%22Oid%22%3a%22b2a3%22%7d"),
    Service("google-meet", "Google Meet", ("meet.google.com", "g.co"),
            r"meet\.google\.com/(?:_meet/)?(?:[a-z]{3}-[a-z]{4}-[a-z]{3}(?:[/?#].*)?$|lookup/[\w-]+)"
            r"|g\.co/meet/[\w-]+",
            "https://meet.google.com/abc-defg-hij"),
    Service("google-meet-stream", "Google Meet live stream", ("stream.meet.google.com",),
            r"stream\.meet\.google\.com/stream/[\w-]+",
            "https://stream.meet.google.com/stream/1a2b3c4d-5e6f-7a8b-9c0d"),
    Service("google-hangouts", "Google Hangouts", ("hangouts.google.com", "plus.google.com"),
            r"(?:hangouts|plus)\.google\.com/(?:hangouts/_/|call/).+",
            "https://hangouts.google.com/hangouts/_/acme.com/weekly-sync"),
    Service("google-duo", "Google Duo", ("duo.app.goo.gl",), r"duo\.app\.goo\.gl/[\w-]+",
            "https://duo.app.goo.gl/aBcD3fGh1jKl"),
    Service("jitsi", "Jitsi Meet", ("meet.jit.si", "8x8.vc"),
            r"(?:meet\.jit\.si|8x8\.vc)/(?:vpaas-magic-cookie-[\w-]+/)?[\w%.~-]+",
            "https://meet.jit.si/AcmeWeeklyPlanning",
            exclude=r"(?:meet\.jit\.si|8x8\.vc)/(?:static|libs|images|sounds|lang|"
                    r"external_api\.js)" + _END),
    Service("gotomeeting", "GoTo Meeting",
            ("gotomeeting.com", "meet.goto.com", "gotomeet.me", "app.goto.com"),
            _S + r"gotomeeting\.com/(?:join/|meeting/join/)?\d{9}|meet\.goto\.com/(?:\d{9}|[\w.-]+)"
            r"|gotomeet\.me/[\w.-]+|app\.goto\.com/meeting/\d{9}",
            "https://meet.goto.com/123456789",
            exclude=r"meet\.goto\.com/(?:install|download|help|system-check|meeting-check)" + _END),
    Service("gotowebinar", "GoTo Webinar", ("gotowebinar.com",),
            _S + r"gotowebinar\.com/(?:register|join|rt)/.+",
            "https://attendee.gotowebinar.com/register/1234567890123456789"),
    Service("gototraining", "GoTo Training", ("gototraining.com",),
            _S + r"gototraining\.com/(?:join|register)/.+",
            "https://global.gototraining.com/join/training/1234567890123456789"),
    Service("bluejeans", "BlueJeans", ("bluejeans.com",),
            r"(?:www\.)?bluejeans\.com/(?:\d{5,}|u/[\w.-]+)|events\.bluejeans\.com/[\w-]+/[\w-]+",
            "https://bluejeans.com/123456789/4321"),
    Service("amazon-chime", "Amazon Chime", ("chime.aws",),
            r"(?:app\.)?chime\.aws/(?:\d{10}|meetings/\?(?:[^#]*&)?pin=\d+)",
            "https://chime.aws/1234567890"),
    Service("skype", "Skype", ("join.skype.com",), r"join\.skype\.com/\w+",
            "https://join.skype.com/AbCdEfGhIjKl"),
    Service("skype-for-business", "Skype for Business",
            ("lync.com", "meet.*", "join.*", "lync.*", "dialin.*"),
            _S + r"lync\.com/[\w.-]+/[\w.-]+/[a-z0-9]{6,}"
            r"|(?:meet|join|lync)\.[\w.-]+/(?:[\w.-]+/)?[\w.-]+/(?-i:[A-Z0-9]{6,10})(?:[?#].*)?$",
            "https://meet.lync.com/contoso-com/alice/4BMQ7QKL"),
    Service("whereby", "Whereby", ("whereby.com",), r"(?:[\w-]+\.)?whereby\.com/[\w-]+",
            "https://whereby.com/acme-standup",
            exclude=r"(?:(?:help|blog|docs|status|dev|api)\.whereby\.com|(?:www\.)?whereby\.com/"
                    r"(?:pricing|information|user|org|blog|contact|login|signup|sign-up|terms|"
                    r"privacy|faq|about|developers|careers|support|download|features|use-cases|"
                    r"embedded|hc|resources|partners|security|legal|company|integrations)" + _END + ")"),
    Service("ringcentral", "RingCentral Video", ("ringcentral.com",),
            _S + r"ringcentral\.com/(?:j|join)/\d{6,}",
            "https://v.ringcentral.com/join/123456789"),
    Service("zoho-meeting", "Zoho Meeting",
            ("meeting.zoho.com", "meeting.zoho.eu", "meeting.zoho.in", "meeting.zoho.com.au",
             "meeting.zoho.jp", "meeting.zoho.com.cn", "meeting.zoho.sa", "meeting.zoho.ca"),
            r"meeting\.zoho\.[a-z.]+/(?:meeting/)?(?:join|register)[?/].+",
            "https://meeting.zoho.com/join?key=1234567890"),
    Service("zoho-webinar", "Zoho Webinar",
            ("webinar.zoho.com", "webinar.zoho.eu", "webinar.zoho.in", "webinar.zoho.com.au"),
            r"webinar\.zoho\.[a-z.]+/(?:meeting/)?(?:join|register)[?/].+",
            "https://webinar.zoho.eu/meeting/register?sessionId=1234567890"),
    Service("slack", "Slack huddle", ("slack.com",), r"app\.slack\.com/huddle/\w+/\w+",
            "https://app.slack.com/huddle/T01ABCDEF/C02GHIJKL"),
    Service("discord", "Discord", ("discord.gg", "discord.com", "discordapp.com"),
            r"discord\.gg/[\w-]+|(?:(?:www|canary|ptb)\.)?discord(?:app)?\.com/"
            r"(?:invite/[\w-]+|channels/\d+/\d+|events/\d+/\d+)",
            "https://discord.gg/aBcDeF12"),
    Service("lifesize", "Lifesize", ("lifesizecloud.com",),
            r"(?:call|webapp|guest)\.lifesizecloud\.com/[\w/?=&-]+",
            "https://call.lifesizecloud.com/1234567"),
    Service("vonage", "Vonage Meetings", ("meetings.vonage.com",),
            r"meetings\.vonage\.com/(?:\d{6,}|room/[\w-]+)", "https://meetings.vonage.com/123456789"),
    Service("facetime", "FaceTime", ("facetime.apple.com",), r"facetime\.apple\.com/join.+",
            "https://facetime.apple.com/join#v=1&p=AbCdEfGh123&k=XyZ987"),
    Service("around", "Around", ("around.co",),
            r"meet\.around\.co/(?:r/)?[\w-]+|around\.co/r/[\w-]+", "https://meet.around.co/r/acme-sync"),
    # --- the long tail, alphabetical ----------------------------------------------------
    Service("adobe-connect", "Adobe Connect", ("adobeconnect.com",),
            r"[\w-]+\.adobeconnect\.com/[\w-]+", "https://acme.adobeconnect.com/quarterly/",
            exclude=r"(?:www|helpx|blogs)\.adobeconnect\.com|[\w-]+\.adobeconnect\.com/"
                    r"(?:admin|system|api|common|account)" + _END),
    Service("airmeet", "Airmeet", ("airmeet.com",), r"(?:www\.)?airmeet\.com/e/[\w-]+",
            "https://www.airmeet.com/e/5f3c2a10-1b2c-11ee-9e2b-0123456789ab"),
    Service("avaya-spaces", "Avaya Spaces", ("spaces.avaya.com",),
            r"spaces\.avaya\.com/(?:spaces|m)/[\w-]+", "https://spaces.avaya.com/m/acme-team"),
    Service("bigmarker", "BigMarker", ("bigmarker.com",), r"(?:www\.)?bigmarker\.com/[\w-]+/[\w-]+",
            "https://www.bigmarker.com/acme/Quarterly-Product-Update",
            exclude=r"(?:www\.)?bigmarker\.com/(?:features|solutions|pricing|blog|resources|"
                    r"integrations|company|legal|help|support|industries|use-cases|about)" + _END),
    Service("blackboard-collaborate", "Blackboard Collaborate", ("bbcollab.com",),
            _S + r"bbcollab\.com/(?:guest|invite|collab/ui/session/(?:guest|join))/.+",
            "https://us.bbcollab.com/guest/0123456789abcdef0123456789abcdef"),
    Service("blizz", "Blizz", ("go.blizz.com",), r"go\.blizz\.com/m[\d-]{6,}",
            "https://go.blizz.com/m12345678"),
    Service("cal-video", "Cal Video", ("cal.com",), r"(?:app\.)?cal\.com/video/[\w-]+",
            "https://app.cal.com/video/8Xp2kQ7mN3vL1aB9"),
    Service("chorus", "Chorus", ("go.chorus.ai",), r"go\.chorus\.ai/.+",
            "https://go.chorus.ai/1234567890"),
    Service("clickmeeting", "ClickMeeting", ("clickmeeting.com",),
            r"[\w-]+\.clickmeeting\.com/[\w-]+", "https://acme.clickmeeting.com/product-demo",
            exclude=r"(?:www|knowledge|blog|help|app|api)\.clickmeeting\.com"),
    Service("coscreen", "CoScreen", ("join.coscreen.co",), r"join\.coscreen\.co/.+",
            "https://join.coscreen.co/acme/AbCdEf"),
    Service("demio", "Demio", ("demio.com",), r"(?:event|my)\.demio\.com/(?:ref|c)/[\w-]+",
            "https://event.demio.com/ref/AbCdEfGh12"),
    Service("dialpad-meetings", "Dialpad Meetings", ("meetings.dialpad.com",),
            r"meetings\.dialpad\.com/(?:room/)?[\w.-]+", "https://meetings.dialpad.com/room/acme"),
    Service("dingtalk", "DingTalk", ("meeting.dingtalk.com",), r"meeting\.dingtalk\.com/j/[\w-]+",
            "https://meeting.dingtalk.com/j/AbCd1234"),
    Service("element-call", "Element Call", ("call.element.io",), r"call\.element\.io/.+",
            "https://call.element.io/room/#/acme-sync?roomId=%21abc%3Amatrix.org"),
    Service("feishu", "Feishu", ("vc.feishu.cn",), r"vc\.feishu\.cn/j/\d+",
            "https://vc.feishu.cn/j/123456789"),
    Service("freeconferencecall", "FreeConferenceCall", ("join.freeconferencecall.com",),
            r"join\.freeconferencecall\.com/[\w.-]+", "https://join.freeconferencecall.com/acme"),
    Service("fuze", "Fuze", ("fuze.me",), r"fuze\.me/\d{6,}", "https://fuze.me/12345678"),
    Service("gather", "Gather", ("gather.town",),
            r"(?:app\.)?gather\.town/(?:app|invite|events|e)/.+",
            "https://app.gather.town/app/AbCdEf123/acme-office"),
    Service("gong", "Gong", ("join.gong.io",), r"join\.gong\.io/.+",
            "https://join.gong.io/acme/jane.doe?tab=meeting"),
    Service("hopin", "Hopin", ("hopin.com",), r"(?:app\.)?hopin\.com/events/[\w-]+",
            "https://hopin.com/events/acme-summit-2025"),
    Service("jam", "Jam", ("jam.systems",), r"jam\.systems/[\w-]+", "https://jam.systems/acme-radio",
            exclude=r"jam\.systems/(?:new|about|terms|privacy)" + _END),
    Service("join-me", "join.me", ("join.me",), r"join\.me/[\w.-]+", "https://join.me/acme-sales",
            exclude=r"join\.me/(?:pricing|features|download|login|support|signup)" + _END),
    Service("kumospace", "Kumospace", ("kumospace.com",), r"(?:www\.)?kumospace\.com/[\w-]+",
            "https://www.kumospace.com/acme",
            exclude=r"(?:www\.)?kumospace\.com/(?:pricing|features|blog|about|login|signup|"
                    r"careers|legal|use-cases|solutions|company|resources|product|help|privacy|"
                    r"terms|contact|security)" + _END),
    Service("lark", "Lark", ("vc.larksuite.com",), r"vc\.larksuite\.com/j/\d+",
            "https://vc.larksuite.com/j/123456789"),
    Service("livestorm", "Livestorm", ("app.livestorm.co", "app.livestorm.com"),
            r"app\.livestorm\.com?/p/[\w-]+/(?:live|event)\b",
            "https://app.livestorm.co/p/0b8f1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d/live?s=abc"),
    Service("on24", "ON24", ("event.on24.com",), r"event\.on24\.com/(?:wcc/r|eventRegistration)/.+",
            "https://event.on24.com/wcc/r/4123456/0A1B2C3D4E5F"),
    Service("ovice", "oVice", ("ovice.in", "ovice.com"),
            r"(?:[\w-]+\.)+ovice\.(?:in|com)(?:[/?#].*)?$", "https://acme.ovice.in/",
            exclude=r"(?:www|docs|help|status|app)\.ovice\.(?:in|com)"),
    Service("pop", "Pop", ("pop.com",), r"pop\.com/j/[\d-]+", "https://pop.com/j/123-456-789"),
    Service("riverside", "Riverside", ("riverside.fm", "riverside.com"),
            r"riverside\.(?:fm|com)/studio/[\w-]+",
            "https://riverside.fm/studio/acme-podcast"),
    Service("starleaf", "StarLeaf", ("meet.starleaf.com",), r"meet\.starleaf\.com/\d+",
            "https://meet.starleaf.com/4212345678"),
    Service("streamyard", "StreamYard", ("streamyard.com",),
            r"streamyard\.com/(?:watch/[\w-]+|[a-z0-9]*\d[a-z0-9]*(?:[/?#].*)?$)",
            "https://streamyard.com/a1b2c3d4e5"),
    Service("teamviewer-meeting", "TeamViewer Meeting", ("go.teamviewer.com",),
            r"go\.teamviewer\.com/m[\d-]{6,}", "https://go.teamviewer.com/m12345678"),
    Service("telegram", "Telegram video chat", ("t.me",), r"t\.me/\w+\?(?:videochat|voicechat|livestream)",
            "https://t.me/acme_team?videochat"),
    Service("tencent-meeting", "Tencent Meeting", ("meeting.tencent.com",),
            r"meeting\.tencent\.com/(?:dm|s|p|l|j)/[\w-]+", "https://meeting.tencent.com/dm/AbCd1234"),
    Service("uberconference", "UberConference", ("uberconference.com",),
            r"(?:www\.)?uberconference\.com/[\w.-]+", "https://www.uberconference.com/acme",
            exclude=r"(?:www\.)?uberconference\.com/(?:pricing|features|login|signup|support|"
                    r"blog|about|download)" + _END),
    Service("vidyo", "Vidyo", ("vidyo.com", "vidyocloud.com", "vidyoconnect.com"),
            _S + r"vidyo(?:cloud|connect)?\.com/join/[\w-]+",
            "https://acme.vidyocloud.com/join/AbCdEf1234"),
    Service("vimeo", "Vimeo live event", ("vimeo.com",), r"vimeo\.com/(?:showcase|event)/\d+",
            "https://vimeo.com/event/1234567"),
    Service("voov-meeting", "VooV Meeting", ("voovmeeting.com",),
            r"(?:www\.)?voovmeeting\.com/(?:dm|s|p|l|j)/[\w-]+", "https://voovmeeting.com/dm/AbCd1234"),
    Service("vowel", "Vowel", ("vowel.com",), _S + r"vowel\.com/#/g/.+",
            "https://acme.vowel.com/#/g/AbCdEf12/weekly"),
    Service("vsee", "VSee", ("vsee.com",), r"(?:www\.)?vsee\.com/(?:u|c)/[\w.-]+",
            "https://vsee.com/u/drsmith"),
    Service("whatsapp", "WhatsApp call", ("call.whatsapp.com",),
            r"call\.whatsapp\.com/(?:video|voice)/\w+", "https://call.whatsapp.com/video/AbCdEf123456"),
    Service("workplace", "Workplace from Meta", ("workplace.com",),
            _S + r"workplace\.com/(?:groupcall|meet|rooms)/.+",
            "https://acme.workplace.com/groupcall/LINK:abcdef123456/"),
    Service("youtube-live", "YouTube Live", ("youtube.com",),
            r"(?:www\.|m\.)?youtube\.com/(?:live/[\w-]+|@[\w.-]+/live)",
            "https://www.youtube.com/live/AbCdEfGhIjK"),
    # --- MeetingBar's newer rows (MeetingProvider.swift), and more -------------------------
    Service("proton-meet", "Proton Meet", ("meet.proton.me",), r"meet\.proton\.me/join/[\w-]+",
            "https://meet.proton.me/join/AbCd-EfGh-1234"),
    Service("reclaim", "Reclaim.ai", ("reclaim.ai",), r"reclaim\.ai/z/[\w./-]+",
            "https://reclaim.ai/z/acme/weekly-sync"),
    Service("luma", "Luma", ("lu.ma", "luma.com"), r"(?:lu\.ma|luma\.com)/join/[\w-]+",
            "https://lu.ma/join/g-AbCdEf123"),
    Service("preply", "Preply", ("preply.com",),
            r"preply\.com/(?:[a-z]{2}/)?(?:classroom|lesson|space)/[\w-]+",
            "https://preply.com/en/classroom/12345678"),
    Service("userzoom", "UserZoom", ("go.userzoom.com",),
            r"go\.userzoom\.com/participate/[a-z0-9-]+",
            "https://go.userzoom.com/participate/c123e456-7890-abcd-ef01-23456789abcd"),
    Service("venue", "Venue", ("app.venue.live",), r"app\.venue\.live/app/[\w/-]+",
            "https://app.venue.live/app/acme/town-hall"),
    Service("teemyco", "Teemyco", ("app.teemyco.com",), r"app\.teemyco\.com/room/[\w-]+",
            "https://app.teemyco.com/room/acme-office"),
    Service("demodesk", "Demodesk", ("demodesk.com",),
            r"(?:app\.)?demodesk\.com/(?:[\w-]+/)*(?:meetings?|join|m)/[\w-]+",
            "https://demodesk.com/acme/meetings/AbCdEf123"),
    Service("zoho-cliq", "Zoho Cliq", ("cliq.zoho.com", "cliq.zoho.eu", "cliq.zoho.in",
                                       "cliq.zoho.com.au", "cliq.zoho.jp"),
            r"cliq\.zoho\.[a-z.]+/meetings/[\w-]+", "https://cliq.zoho.eu/meetings/AbCd1234"),
    Service("tuple", "Tuple", ("tuple.app",), r"tuple\.app/c/[\w-]+",
            "https://tuple.app/c/AbCdEf123"),
    Service("pumble", "Pumble", ("meet.pumble.com",), r"meet\.pumble\.com/[a-z]+(?:-[a-z]+)+",
            "https://meet.pumble.com/abc-defg-hij"),
    Service("suit-conference", "Suit Conference", ("conference.istesuit.com",),
            _S + r"conference\.istesuit\.com/[\w-]+", "https://conference.istesuit.com/acme-room"),
    Service("doxy-me", "Doxy.me", ("doxy.me",), r"(?:[\w-]+\.)?doxy\.me/[\w.-]+",
            "https://doxy.me/drsmith",
            exclude=r"(?:(?:www|help|blog|status|api)\.doxy\.me|(?:[\w-]+\.)?doxy\.me/"
                    r"(?:sign-?in|sign-?up|login|pricing|features|blog|about|help|support|"
                    r"privacy|terms|security|download|contact|en|es|careers)" + _END + ")"),
    Service("zm-page", "zm.page", ("zm.page",), r"[\w-]+(?:\.[\w-]+)*\.zm\.page(?:[/?#].*)?$",
            "https://acme-standup.zm.page", exclude=r"www\.zm\.page"),
    Service("livekit-meet", "LiveKit Meet", ("livekit.io",),
            r"meet[\w.-]*\.livekit\.io/rooms/[\w-]+", "https://meet.livekit.io/rooms/acme-sync"),
    Service("meetecho", "Meetecho", ("meetings.conf.meetecho.com",),
            r"meetings\.conf\.meetecho\.com/[\w-]+/?\?(?:[^#]*&)?(?:session|group)=[\w-]+",
            "https://meetings.conf.meetecho.com/ietf118/?session=31533"),
    Service("daily", "Daily", ("daily.co",), r"[\w-]+\.daily\.co/[\w-]+",
            "https://acme.daily.co/standup",
            exclude=r"(?:www|docs|dashboard|help|status|api|blog)\.daily\.co"),
    Service("talky", "Talky", ("talky.io",), r"talky\.io/[\w-]+", "https://talky.io/acme-standup",
            exclude=r"talky\.io/(?:about|faq|terms|privacy|help|static|assets)" + _END),
    Service("yandex-telemost", "Yandex Telemost", ("telemost.yandex.ru", "telemost.yandex.com"),
            r"telemost\.yandex\.(?:ru|com)/j/\d{8,}", "https://telemost.yandex.ru/j/12345678901234"),
    Service("vk-calls", "VK Calls", ("vk.com",), r"(?:m\.)?vk\.com/call/join/[\w-]+",
            "https://vk.com/call/join/AbCdEfGh123"),
    Service("crowdcast", "Crowdcast", ("crowdcast.io",),
            r"(?:www\.)?crowdcast\.io/(?:e|c)/[\w-]+", "https://www.crowdcast.io/e/acme-launch"),
    Service("remo", "Remo", ("live.remo.co",), r"live\.remo\.co/e/[\w-]+",
            "https://live.remo.co/e/acme-mixer"),
    Service("signal", "Signal call link", ("signal.link",), r"signal\.link/call/#key=[\w-]+",
            "https://signal.link/call/#key=bcdf-ghkm-npqr-stxz-bcdf-ghkm-npqr-stxz"),
    Service("ringcentral-events", "RingCentral Events", ("events.ringcentral.com",),
            r"events\.ringcentral\.com/events/[\w-]+",
            "https://events.ringcentral.com/events/acme-summit-2026"),
    Service("zhumu", "Zhumu", ("zhumu.com",), _S + r"zhumu\.com/j/\d+",
            "https://welink.zhumu.com/j/123456789?pwd=abc123"),
)
