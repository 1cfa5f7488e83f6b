"""Sections, boards and the vocabulary `seed_demo` writes with: Nairaland-style and Nigerian."""

SECTIONS = [
    (
        "Nairaland General",
        [
            ("Politics", "politics", "Our country Nigeria is the giant of Africa!"),
            ("Crime", "crime", "Crime reports and security matters"),
            ("Romance", "romance", "Discuss dating, courtship, and romance in marriage."),
            ("Jobs/Vacancies", "jobs", "Job/Employment Opportunities; Vacancies In Nigeria!"),
            ("Career", "career", "Career growth, CVs and interviews"),
            ("Business", "business", "Entrepreneurship, Startups, Economics, etc"),
            ("Investment", "investment", "NSE Stocks, Bonds, T-bills, Real-Estate"),
            ("NYSC", "nysc", "Corps members, camps and postings"),
            ("Education", "education", "Primary and secondary school, universities, polytechnics"),
            ("Autos", "autos", "Cars, tokunbo and mechanics"),
            ("Properties", "properties", "Real Estate: Land, Houses, Flats"),
            ("Health", "health", "Staying healthy in Naija"),
            ("Travel", "travel", "Visas, japa stories and local trips"),
            ("Family", "family", "Parenting, in-laws and family life"),
            ("Culture", "culture", "Nigerian languages, traditions, practices"),
            ("Religion", "religion", "Faith and religious discussion"),
            ("Food", "food", "This is the Nairaland kitchen!"),
            ("Agriculture", "agriculture", "Farming, livestock and agro business"),
        ],
    ),
    (
        "Entertainment",
        [
            ("Jokes Etc", "jokes", "Laugh small"),
            ("TV/Movies", "tv-movies", "Nollywood, series and cinema"),
            ("Music/Radio", "music", "Afrobeats, gospel and everything in between"),
            ("Celebrities", "celebrities", "Celebrity obsession, Nollywood gossip"),
            ("Fashion", "fashion", "Aso-ebi, tailors and style"),
            ("Sports", "sports", "We are Nigerians; and we love soccer"),
            ("Gaming", "gaming", "Consoles, PC and mobile games"),
            ("Literature", "literature", "Books, poetry and writing"),
        ],
    ),
    (
        "Science/Technology",
        [
            ("Programming", "programming", "Code, careers in tech, tools"),
            ("Webmasters", "webmasters", "Hosting, domains and websites"),
            ("Computers", "computers", "Laptops, desktops and repairs"),
            ("Phones", "phones", "Nigerian GSM networks, ISPs, Modems"),
            ("Technology Market", "tech-market", "Buy and sell Phones, Computers"),
        ],
    ),
]

TITLES = [
    "Tinubu presents budget to National Assembly",
    "INEC releases timetable for governorship elections",
    "Graduate trainee recruitment at a Lagos bank: apply before Friday",
    "Remote developer roles paying in USD: share yours",
    "My fiancée wants a ₦5m traditional wedding: advice?",
    "How I started a POS business with ₦300k",
    "Treasury bills rates this week",
    "Landlord increased rent by 80% in Yaba",
    "Japa diaries: UK skilled-worker visa process",
    "JAMB cut-off marks announced",
    "ASUU strike update",
    "Tokunbo vs Nigerian-used Corolla: which one?",
    "Super Eagles AFCON squad list",
    "Arsenal vs Chelsea live thread",
    "Nollywood actor announces new movie",
    "MTN vs Airtel data plans compared",
    "Best budget phone under ₦150k",
    "Django vs Laravel for Nigerian startups",
    "How to make party jollof rice",
    "Malaria prevention tips for the rainy season",
    "Cassava farming: cost and returns per hectare",
    "Fuel scarcity in Abuja again",
    "NEPA took light for three days in Ibadan",
    "Danfo drivers and the new BRT routes",
    "Okada ban in Lagos: good or bad?",
    "BVN and NIN linking deadline extended",
    "WAEC results released: check yours",
    "NYSC camp experience in Kano",
    "Port Harcourt traffic is getting worse",
    "Which bank app is the most reliable?",
]

WORDS = (
    "naira dollar japa wahala oga abeg light fuel scarcity danfo okada pos bvn nin lagos abuja "
    "port harcourt ibadan kano enugu jos jamb waec nysc asuu tinubu inec senate budget market "
    "price rent landlord yaba lekki ikeja surulere visa embassy london canada germany school "
    "university lecturer student exam result job salary interview startup business loan bank "
    "transfer app network data airtime mtn airtel glo phone laptop code python django react "
    "jollof suya pepper soup egusi amala garri rice beans yam plantain chicken wedding church "
    "mosque family mother father brother sister friend neighbour football eagles arsenal chelsea "
    "match goal coach league music afrobeats movie nollywood actor song radio weather rain "
    "malaria hospital doctor nurse farm cassava maize poultry fish road traffic bridge government "
    "policy election vote campaign governor minister people country city village community "
    "money time work day night morning week year today tomorrow really wetin dey happen sha "
    "o jare na so e no easy make we see how una dey talk true talk"
).split()
