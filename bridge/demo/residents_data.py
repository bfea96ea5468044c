"""The demo residents and the clinical vocabulary they draw on, as plain data.

Kept apart from the builders so that a clinician can review the table (who has what, on which drug,
with which lab values) without reading FHIR plumbing. Ages and dates are relative (years, days ago)
so the builders can place them around any "today".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConditionCode:
    icd10: str
    display: str  # the WHO ICD-10 English title
    text: str  # what a Chinese clinician writes


@dataclass(frozen=True)
class Allergen:
    text: str
    category: str  # food | medication
    type: str  # allergy | intolerance
    criticality: str  # low | high
    reaction: str
    snomed: tuple[str, str] | None  # (code, display) only where the substance code is certain


@dataclass(frozen=True)
class Drug:
    atc: str
    atc_display: str
    text: str
    dose_text: str
    dose_value: float
    dose_unit: str  # a UCUM code, or "TAB" for whole or part tablets
    frequency: int
    period_unit: str  # d | wk
    when: str | None = None  # an R4 event-timing code
    route: str = "oral"  # oral | inhaled


@dataclass(frozen=True)
class Analyte:
    loinc: str
    display: str
    text: str
    unit: str  # UCUM


@dataclass(frozen=True)
class Panel:
    loinc: tuple[str, str] | None  # (code, display); None where no panel code fits one analyte
    text: str


@dataclass(frozen=True)
class LabResult:
    analyte: str
    value: float
    low: float | None
    high: float | None
    therapeutic: bool = False  # the range is a treatment target (INR on warfarin), not a normal range


@dataclass(frozen=True)
class LabOrder:
    panel: str
    days_ago: int
    results: tuple[LabResult, ...]


@dataclass(frozen=True)
class Contact:
    family: str
    given: str
    relation: str
    phone: str


@dataclass(frozen=True)
class Resident:
    key: str  # two digits; the Patient id is demo-resident-<key>
    home: int  # index into the context's homes
    number: int  # sequence in the home's resident register
    family: str
    given: str
    gender: str
    age: int
    birthday_offset: int  # days before this year's birthday anniversary, so the age is exact
    bed: str  # "<room>-<n>"
    admitted_days_ago: int
    contact: Contact
    conditions: tuple[str, ...]  # the first is the main diagnosis of the first visit
    allergies: tuple[str, ...]
    drugs: tuple[str, ...]
    first_visit_days_ago: int | None
    labs: tuple[LabOrder, ...] = ()


CONDITIONS: dict[str, ConditionCode] = {
    "htn": ConditionCode("I10", "Essential (primary) hypertension", "原发性高血压"),
    "t2dm": ConditionCode("E11.9", "Type 2 diabetes mellitus without complications", "2型糖尿病"),
    "ckd3": ConditionCode("N18.3", "Chronic kidney disease, stage 3", "慢性肾脏病3期"),
    "af_persistent": ConditionCode("I48.1", "Persistent atrial fibrillation", "持续性心房颤动"),
    "af_paroxysmal": ConditionCode("I48.0", "Paroxysmal atrial fibrillation", "阵发性心房颤动"),
    "stroke_sequelae": ConditionCode("I69.3", "Sequelae of cerebral infarction", "脑梗死后遗症"),
    "alzheimer": ConditionCode("G30.9", "Alzheimer disease, unspecified", "阿尔茨海默病"),
    "vascular_dementia": ConditionCode("F01.9", "Vascular dementia, unspecified", "血管性痴呆"),
    "parkinson": ConditionCode("G20", "Parkinson disease", "帕金森病"),
    "bph": ConditionCode("N40", "Hyperplasia of prostate", "前列腺增生"),
    "osteoporosis": ConditionCode("M81.9", "Osteoporosis, unspecified", "骨质疏松症"),
    "hypothyroid": ConditionCode("E03.9", "Hypothyroidism, unspecified", "甲状腺功能减退症"),
    "heart_failure": ConditionCode("I50.0", "Congestive heart failure", "慢性心力衰竭"),
    "copd": ConditionCode("J44.9", "Chronic obstructive pulmonary disease, unspecified", "慢性阻塞性肺疾病"),
    "hyperlipidaemia": ConditionCode("E78.5", "Hyperlipidaemia, unspecified", "高脂血症"),
}

_PENICILLIN = "Substance with penicillin structure and antibacterial mechanism of action (substance)"
ALLERGENS: dict[str, Allergen] = {
    "penicillin": Allergen(
        "青霉素类抗生素", "medication", "allergy", "high", "全身荨麻疹、呼吸困难", ("373270004", _PENICILLIN)
    ),
    "sulfonamide": Allergen(
        "磺胺类药物", "medication", "allergy", "low", "皮疹", ("387406002", "Sulfonamide (substance)")
    ),
    "aspirin": Allergen("阿司匹林", "medication", "allergy", "high", "哮喘发作", ("387458008", "Aspirin (substance)")),
    "ibuprofen": Allergen(
        "布洛芬", "medication", "allergy", "low", "皮肤瘙痒、皮疹", ("387207008", "Ibuprofen (substance)")
    ),
    "codeine": Allergen(
        "可待因", "medication", "intolerance", "low", "恶心、呕吐", ("387494007", "Codeine (substance)")
    ),
    # No substance code is certain enough for these two, so they stay text-only.
    "contrast": Allergen("碘造影剂", "medication", "allergy", "high", "荨麻疹、喉头水肿", None),
    "cephalosporin": Allergen("头孢菌素类抗生素", "medication", "allergy", "low", "皮疹", None),
    "seafood": Allergen(
        "海鲜（虾、蟹）", "food", "allergy", "low", "皮肤瘙痒、荨麻疹", ("44027008", "Seafood (substance)")
    ),
}

# Field order: ATC code, ATC name, product, dosage text, dose, unit, times per period, period, when, route.
DRUGS: dict[str, Drug] = {
    "amlodipine": Drug("C08CA01", "amlodipine", "苯磺酸氨氯地平片 5mg", "每日1次，每次5mg，口服", 5, "mg", 1, "d"),
    "nifedipine": Drug("C08CA05", "nifedipine", "硝苯地平控释片 30mg", "每日1次，每次30mg，整片吞服", 30, "mg", 1, "d"),
    "irbesartan": Drug("C09CA04", "irbesartan", "厄贝沙坦片 150mg", "每日1次，每次150mg，口服", 150, "mg", 1, "d"),
    "metoprolol": Drug(
        "C07AB02", "metoprolol", "琥珀酸美托洛尔缓释片 47.5mg", "每日1次，每次47.5mg，晨服", 47.5, "mg", 1, "d", "MORN"
    ),
    "linagliptin": Drug("A10BH05", "linagliptin", "利格列汀片 5mg", "每日1次，每次5mg，口服", 5, "mg", 1, "d"),
    "metformin": Drug(
        "A10BA02", "metformin", "盐酸二甲双胍片 0.5g", "每日2次，每次0.5g，餐中服", 500, "mg", 2, "d", "C"
    ),
    "acarbose": Drug(
        "A10BF01", "acarbose", "阿卡波糖片 50mg", "每日3次，每次50mg，随第一口饭嚼服", 50, "mg", 3, "d", "C"
    ),
    "atorvastatin": Drug(
        "C10AA05", "atorvastatin", "阿托伐他汀钙片 20mg", "每晚1次，每次20mg，睡前口服", 20, "mg", 1, "d", "HS"
    ),
    "aspirin": Drug(
        "B01AC06", "acetylsalicylic acid", "阿司匹林肠溶片 100mg", "每日1次，每次100mg，口服", 100, "mg", 1, "d"
    ),
    "clopidogrel": Drug("B01AC04", "clopidogrel", "硫酸氢氯吡格雷片 75mg", "每日1次，每次75mg，口服", 75, "mg", 1, "d"),
    "warfarin": Drug("B01AA03", "warfarin", "华法林钠片 2.5mg", "每日1次，每次2.5mg，按INR调整剂量", 2.5, "mg", 1, "d"),
    "rivaroxaban": Drug(
        "B01AF01", "rivaroxaban", "利伐沙班片 15mg", "每日1次，每次15mg，随餐服用", 15, "mg", 1, "d", "C"
    ),
    "furosemide": Drug("C03CA01", "furosemide", "呋塞米片 20mg", "每日1次，每次20mg，晨服", 20, "mg", 1, "d", "MORN"),
    "spironolactone": Drug("C03DA01", "spironolactone", "螺内酯片 20mg", "每日1次，每次20mg，口服", 20, "mg", 1, "d"),
    "levothyroxine_50": Drug(
        "H03AA01",
        "levothyroxine sodium",
        "左甲状腺素钠片 50μg",
        "每日1次，每次50μg，早餐前空腹服",
        50,
        "ug",
        1,
        "d",
        "ACM",
    ),
    "levothyroxine_25": Drug(
        "H03AA01",
        "levothyroxine sodium",
        "左甲状腺素钠片 50μg",
        "每日1次，每次半片（25μg），早餐前空腹服",
        0.5,
        "TAB",
        1,
        "d",
        "ACM",
    ),
    "donepezil": Drug(
        "N06DA02", "donepezil", "盐酸多奈哌齐片 5mg", "每晚1次，每次5mg，睡前口服", 5, "mg", 1, "d", "HS"
    ),
    "tamsulosin": Drug(
        "G04CA02", "tamsulosin", "盐酸坦索罗辛缓释胶囊 0.2mg", "每晚1次，每次0.2mg，睡前口服", 0.2, "mg", 1, "d", "HS"
    ),
    "levodopa_benserazide": Drug(
        "N04BA02",
        "levodopa and decarboxylase inhibitor",
        "多巴丝肼片 0.25g",
        "每日3次，每次半片（0.125g），餐前1小时服",
        0.5,
        "TAB",
        3,
        "d",
        "AC",
    ),
    "calcium_d": Drug(
        "A12AX",
        "calcium, combinations with vitamin D and/or other drugs",
        "碳酸钙D3片 600mg",
        "每日1次，每次1片，口服",
        1,
        "TAB",
        1,
        "d",
    ),
    "alendronate": Drug(
        "M05BA04",
        "alendronic acid",
        "阿仑膦酸钠片 70mg",
        "每周1次，每次70mg，晨起空腹温水送服，服后保持直立30分钟",
        70,
        "mg",
        1,
        "wk",
        "ACM",
    ),
    "omeprazole": Drug(
        "A02BC01", "omeprazole", "奥美拉唑肠溶胶囊 20mg", "每日1次，每次20mg，早餐前服", 20, "mg", 1, "d", "ACM"
    ),
    "tiotropium": Drug(
        "R03BB04",
        "tiotropium bromide",
        "噻托溴铵粉吸入剂 18μg",
        "每日1次，每次1粒（18μg），经吸入装置吸入",
        18,
        "ug",
        1,
        "d",
        "MORN",
        "inhaled",
    ),
}

# Chinese laboratories report in SI units, so the LOINC codes are the moles/volume ones where LOINC has both.
ANALYTES: dict[str, Analyte] = {
    "creatinine": Analyte("14682-9", "Creatinine [Moles/volume] in Serum or Plasma", "肌酐", "umol/L"),
    "potassium": Analyte("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "钾", "mmol/L"),
    "sodium": Analyte("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "钠", "mmol/L"),
    "glucose": Analyte("14749-6", "Glucose [Moles/volume] in Serum or Plasma", "空腹血糖", "mmol/L"),
    "alt": Analyte(
        "1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "丙氨酸氨基转移酶", "U/L"
    ),
    "egfr": Analyte(
        "33914-3",
        "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum "
        "or Plasma by Creatinine-based formula (MDRD)",
        "估算肾小球滤过率",
        "mL/min/{1.73_m2}",
    ),
    "hba1c": Analyte("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "糖化血红蛋白", "%"),
    "hemoglobin": Analyte("718-7", "Hemoglobin [Mass/volume] in Blood", "血红蛋白", "g/L"),
    "wbc": Analyte("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "白细胞计数", "10*9/L"),
    "platelets": Analyte("777-3", "Platelets [#/volume] in Blood by Automated count", "血小板计数", "10*9/L"),
    "cholesterol": Analyte("14647-2", "Cholesterol [Moles/volume] in Serum or Plasma", "总胆固醇", "mmol/L"),
    "triglyceride": Analyte("14927-8", "Triglyceride [Moles/volume] in Serum or Plasma", "甘油三酯", "mmol/L"),
    "hdl": Analyte("14646-4", "Cholesterol in HDL [Moles/volume] in Serum or Plasma", "高密度脂蛋白胆固醇", "mmol/L"),
    "ldl": Analyte("22748-8", "Cholesterol in LDL [Moles/volume] in Serum or Plasma", "低密度脂蛋白胆固醇", "mmol/L"),
    "tsh": Analyte("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "促甲状腺激素", "m[IU]/L"),
    "inr": Analyte("6301-6", "INR in Platelet poor plasma by Coagulation assay", "国际标准化比值", "{INR}"),
}

PANELS: dict[str, Panel] = {
    "cmp": Panel(("24323-8", "Comprehensive metabolic 2000 panel - Serum or Plasma"), "肝肾功能电解质"),
    "cbc": Panel(("58410-2", "CBC panel - Blood by Automated count"), "血常规"),
    "lipid": Panel(("24331-1", "Lipid 1996 panel - Serum or Plasma"), "血脂四项"),
    "coag": Panel(None, "凝血功能（INR）"),
    "thyroid": Panel(None, "甲状腺功能"),
    "glycaemia": Panel(None, "糖化血红蛋白"),
}

# Each home's rooms: (floor, room number, beds). Some beds stay empty, as in a real home.
HOME_ROOMS: tuple[tuple[tuple[int, str, int], ...], ...] = (
    ((3, "301", 2), (3, "302", 2), (3, "303", 2), (3, "305", 2)),
    ((2, "201", 2), (2, "202", 2), (2, "203", 1), (2, "205", 2)),
)

_R = LabResult
# Field order: key, home, number, family, given, gender, age, birthday offset, bed, admitted days ago;
# next of kin; conditions (main first); allergies; drugs; first visit days ago (None: never); labs.
RESIDENTS: tuple[Resident, ...] = (
    Resident(
        "01",
        0,
        1,
        "王",
        "秀英",
        "female",
        86,
        40,
        "301-1",
        1460,
        Contact("李", "建华", "儿子", "13900000101"),
        ("ckd3", "htn", "t2dm"),
        ("sulfonamide",),
        ("irbesartan", "amlodipine", "linagliptin", "atorvastatin"),
        95,
        (
            LabOrder(
                "cmp",
                6,
                (
                    _R("creatinine", 128, 41, 81),
                    _R("egfr", 33, 90, None),
                    _R("potassium", 5.8, 3.5, 5.3),
                    _R("sodium", 139, 137, 147),
                    _R("glucose", 7.4, 3.9, 6.1),
                    _R("alt", 18, 7, 40),
                ),
            ),
        ),
    ),
    Resident(
        "02",
        0,
        2,
        "张",
        "建国",
        "male",
        82,
        120,
        "302-1",
        980,
        Contact("张", "伟", "儿子", "13900000102"),
        ("af_persistent", "htn", "stroke_sequelae"),
        ("penicillin",),
        ("warfarin", "metoprolol", "atorvastatin"),
        120,
        (
            LabOrder("coag", 4, (_R("inr", 3.6, 2.0, 3.0, therapeutic=True),)),
            LabOrder(
                "cbc",
                4,
                (
                    _R("hemoglobin", 128, 130, 175),
                    _R("wbc", 6.4, 3.5, 9.5),
                    _R("platelets", 182, 125, 350),
                ),
            ),
        ),
    ),
    Resident(
        "03",
        0,
        3,
        "李",
        "桂兰",
        "female",
        90,
        200,
        "301-2",
        2100,
        Contact("陈", "静", "女儿", "13900000103"),
        ("alzheimer", "osteoporosis", "htn"),
        ("seafood",),
        ("donepezil", "calcium_d", "amlodipine"),
        60,
    ),
    Resident(
        "04",
        0,
        4,
        "陈",
        "志明",
        "male",
        78,
        15,
        "302-2",
        150,
        Contact("陈", "晓燕", "女儿", "13900000104"),
        ("parkinson", "bph"),
        (),
        ("levodopa_benserazide", "tamsulosin"),
        None,
    ),
    Resident(
        "05",
        0,
        5,
        "刘",
        "淑珍",
        "female",
        88,
        300,
        "303-1",
        1700,
        Contact("周", "敏", "女儿", "13900000105"),
        ("hypothyroid", "htn", "osteoporosis"),
        ("codeine",),
        ("levothyroxine_50", "nifedipine", "calcium_d", "alendronate"),
        150,
        (LabOrder("thyroid", 10, (_R("tsh", 6.8, 0.27, 4.2),)),),
    ),
    Resident(
        "06",
        0,
        6,
        "杨",
        "德华",
        "male",
        84,
        75,
        "305-1",
        820,
        Contact("杨", "军", "儿子", "13900000106"),
        ("heart_failure", "htn", "t2dm"),
        ("contrast",),
        ("furosemide", "spironolactone", "metoprolol", "metformin"),
        45,
        (
            LabOrder(
                "cmp",
                3,
                (
                    _R("creatinine", 102, 57, 111),
                    _R("egfr", 61, 90, None),
                    _R("potassium", 4.1, 3.5, 5.3),
                    _R("sodium", 134, 137, 147),
                    _R("glucose", 7.9, 3.9, 6.1),
                    _R("alt", 22, 9, 50),
                ),
            ),
            LabOrder("glycaemia", 3, (_R("hba1c", 7.6, 4.0, 6.0),)),
        ),
    ),
    Resident(
        "07",
        0,
        7,
        "赵",
        "玉珍",
        "female",
        76,
        160,
        "303-2",
        540,
        Contact("孙", "丽", "女儿", "13900000107"),
        ("stroke_sequelae", "vascular_dementia", "htn"),
        ("cephalosporin",),
        ("aspirin", "atorvastatin", "amlodipine", "omeprazole"),
        80,
    ),
    Resident(
        "08",
        1,
        1,
        "周",
        "美华",
        "female",
        92,
        90,
        "201-1",
        2400,
        Contact("周", "国平", "儿子", "13900000208"),
        ("copd", "htn", "osteoporosis"),
        ("penicillin",),
        ("tiotropium", "amlodipine", "calcium_d"),
        110,
    ),
    Resident(
        "09",
        1,
        2,
        "吴",
        "国强",
        "male",
        80,
        250,
        "202-1",
        700,
        Contact("吴", "芳", "女儿", "13900000209"),
        ("t2dm", "htn", "hyperlipidaemia"),
        ("ibuprofen",),
        ("metformin", "acarbose", "nifedipine", "atorvastatin"),
        70,
        (
            LabOrder(
                "lipid",
                8,
                (
                    _R("cholesterol", 5.9, None, 5.2),
                    _R("triglyceride", 2.1, None, 1.7),
                    _R("hdl", 1.12, 1.04, None),
                    _R("ldl", 3.9, None, 3.4),
                ),
            ),
        ),
    ),
    Resident(
        "10",
        1,
        3,
        "孙",
        "凤英",
        "female",
        87,
        30,
        "201-2",
        120,
        Contact("孙", "立新", "儿子", "13900000210"),
        ("alzheimer", "hypothyroid", "osteoporosis"),
        (),
        ("donepezil", "levothyroxine_25", "calcium_d"),
        None,
    ),
    Resident(
        "11",
        1,
        4,
        "徐",
        "文斌",
        "male",
        74,
        180,
        "202-2",
        400,
        Contact("徐", "海燕", "配偶", "13900000211"),
        ("af_paroxysmal", "htn", "bph"),
        ("seafood",),
        ("rivaroxaban", "metoprolol", "tamsulosin"),
        100,
    ),
    Resident(
        "12",
        1,
        5,
        "马",
        "丽娟",
        "female",
        81,
        330,
        "203-1",
        1100,
        Contact("马", "涛", "儿子", "13900000212"),
        ("stroke_sequelae", "t2dm", "htn"),
        ("aspirin",),
        ("clopidogrel", "atorvastatin", "metformin", "irbesartan"),
        130,
    ),
)

# The resident whose recording is the ECG excerpt: heart failure, in sinus rhythm as the excerpt is.
ECG_RESIDENT = "06"
ECG_DAYS_AGO = 3

# How a UCUM code is shown to people, where the code itself is not what a Chinese lab report prints.
UNIT_DISPLAY = {
    "umol/L": "µmol/L",
    "ug": "μg",
    "uV": "µV",
    "m[IU]/L": "mIU/L",
    "{INR}": "INR",
    "10*9/L": "×10⁹/L",
}

# ECG leads of the excerpt -> (MDC code, MDC name, Chinese text). MIT-BIH's MLII is a modified lead II,
# and lead II is its nearest MDC code.
MDC_LEADS = {
    "MLII": ("131330", "MDC_ECG_ELEC_POTL_II", "MLII（改良II导联）"),
    "V5": ("131335", "MDC_ECG_ELEC_POTL_V5", "V5导联"),
}
