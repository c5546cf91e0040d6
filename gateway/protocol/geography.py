"""Reference geography of DKI Jakarta's five kota administrasi, for the synthetic city.

The 42 kecamatan of Jakarta Pusat, Utara, Barat, Selatan and Timur (DKI's other two kecamatan are
in Kabupaten Kepulauan Seribu, left out on purpose) with their real kelurahan. Centroids,
areas and populations are approximate (rounded BPS figures, around the 2020 census); they only
have to make a plausible city, not to survey one. The region codes are Kemendagri's, as used in
digits 3-6 of a NIK.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Kota:
    """A kota administrasi of DKI Jakarta."""

    name: str
    code: str  # two digits after the province code 31 (Kemendagri), e.g. "71"
    plate_letter: str  # first suffix letter of a "B" plate registered there
    polres: str  # the metropolitan police resort that covers it


@dataclass(frozen=True, slots=True)
class Kecamatan:
    """A kecamatan: approximate centroid, land area and population, and its kelurahan."""

    name: str
    kota: str
    code: str  # two digits within the kota (Kemendagri), e.g. "09" for Tebet in 31.71
    lat: float
    lon: float
    area_km2: float
    population: int
    kelurahan: tuple[str, ...]


KOTA: tuple[Kota, ...] = (
    Kota("Jakarta Selatan", "71", "S", "Polres Metro Jakarta Selatan"),
    Kota("Jakarta Timur", "72", "T", "Polres Metro Jakarta Timur"),
    Kota("Jakarta Pusat", "73", "P", "Polres Metro Jakarta Pusat"),
    Kota("Jakarta Barat", "74", "B", "Polres Metro Jakarta Barat"),
    Kota("Jakarta Utara", "75", "U", "Polres Metro Jakarta Utara"),
)

_JS, _JT, _JP, _JB, _JU = (k.name for k in KOTA)

KECAMATAN: tuple[Kecamatan, ...] = (
    # Jakarta Selatan (31.71)
    Kecamatan("Jagakarsa", _JS, "01", -6.3350, 106.8200, 25.0, 400_000,
              ("Jagakarsa", "Srengseng Sawah", "Ciganjur", "Lenteng Agung", "Tanjung Barat",
               "Cipedak")),
    Kecamatan("Pasar Minggu", _JS, "02", -6.2850, 106.8420, 21.7, 310_000,
              ("Pasar Minggu", "Jati Padang", "Cilandak Timur", "Ragunan", "Pejaten Barat",
               "Pejaten Timur", "Kebagusan")),
    Kecamatan("Cilandak", _JS, "03", -6.2900, 106.7970, 18.2, 200_000,
              ("Cilandak Barat", "Lebak Bulus", "Pondok Labu", "Gandaria Selatan",
               "Cipete Selatan")),
    Kecamatan("Pesanggrahan", _JS, "04", -6.2550, 106.7560, 13.5, 230_000,
              ("Pesanggrahan", "Bintaro", "Petukangan Utara", "Petukangan Selatan", "Ulujami")),
    Kecamatan("Kebayoran Lama", _JS, "05", -6.2480, 106.7790, 19.3, 310_000,
              ("Kebayoran Lama Utara", "Kebayoran Lama Selatan", "Grogol Utara",
               "Grogol Selatan", "Cipulir", "Pondok Pinang")),
    Kecamatan("Kebayoran Baru", _JS, "06", -6.2400, 106.8010, 12.9, 140_000,
              ("Selong", "Gunung", "Kramat Pela", "Gandaria Utara", "Cipete Utara", "Pulo",
               "Melawai", "Petogogan", "Rawa Barat", "Senayan")),
    Kecamatan("Mampang Prapatan", _JS, "07", -6.2480, 106.8240, 7.7, 140_000,
              ("Mampang Prapatan", "Bangka", "Pela Mampang", "Tegal Parang", "Kuningan Barat")),
    Kecamatan("Pancoran", _JS, "08", -6.2550, 106.8460, 8.6, 160_000,
              ("Pancoran", "Kalibata", "Rawajati", "Duren Tiga", "Pengadegan", "Cikoko")),
    Kecamatan("Tebet", _JS, "09", -6.2300, 106.8500, 9.0, 210_000,
              ("Tebet Barat", "Tebet Timur", "Kebon Baru", "Bukit Duri", "Manggarai",
               "Manggarai Selatan", "Menteng Dalam")),
    Kecamatan("Setiabudi", _JS, "10", -6.2130, 106.8290, 8.9, 120_000,
              ("Setiabudi", "Karet", "Karet Semanggi", "Karet Kuningan", "Kuningan Timur",
               "Menteng Atas", "Pasar Manggis", "Guntur")),
    # Jakarta Timur (31.72)
    Kecamatan("Pasar Rebo", _JT, "01", -6.3200, 106.8550, 13.0, 210_000,
              ("Pekayon", "Kalisari", "Baru", "Cijantung", "Gedong")),
    Kecamatan("Ciracas", _JT, "02", -6.3270, 106.8770, 16.1, 300_000,
              ("Ciracas", "Cibubur", "Kelapa Dua Wetan", "Susukan", "Rambutan")),
    Kecamatan("Cipayung", _JT, "03", -6.3200, 106.9050, 28.5, 290_000,
              ("Cipayung", "Bambu Apus", "Ceger", "Cilangkap", "Lubang Buaya", "Munjul",
               "Pondok Ranggon", "Setu")),
    Kecamatan("Makasar", _JT, "04", -6.2700, 106.8880, 21.7, 190_000,
              ("Makasar", "Pinang Ranti", "Kebon Pala", "Halim Perdana Kusuma",
               "Cipinang Melayu")),
    Kecamatan("Kramat Jati", _JT, "05", -6.2750, 106.8650, 13.0, 300_000,
              ("Kramat Jati", "Batu Ampar", "Bale Kambang", "Kampung Tengah", "Dukuh", "Cawang",
               "Cililitan")),
    Kecamatan("Jatinegara", _JT, "06", -6.2270, 106.8750, 10.6, 270_000,
              ("Kampung Melayu", "Bidara Cina", "Bali Mester", "Rawa Bunga",
               "Cipinang Cempedak", "Cipinang Muara", "Cipinang Besar Utara",
               "Cipinang Besar Selatan")),
    Kecamatan("Duren Sawit", _JT, "07", -6.2330, 106.9150, 22.7, 400_000,
              ("Duren Sawit", "Pondok Bambu", "Pondok Kelapa", "Pondok Kopi", "Malaka Jaya",
               "Malaka Sari", "Klender")),
    Kecamatan("Cakung", _JT, "08", -6.1850, 106.9470, 42.3, 540_000,
              ("Cakung Barat", "Cakung Timur", "Rawa Terate", "Jatinegara", "Penggilingan",
               "Pulo Gebang", "Ujung Menteng")),
    Kecamatan("Pulo Gadung", _JT, "09", -6.1900, 106.8950, 15.6, 270_000,
              ("Pulo Gadung", "Pisangan Timur", "Cipinang", "Jatinegara Kaum", "Jati",
               "Rawamangun", "Kayu Putih")),
    Kecamatan("Matraman", _JT, "10", -6.2030, 106.8610, 4.9, 150_000,
              ("Pisangan Baru", "Utan Kayu Utara", "Utan Kayu Selatan", "Kayu Manis",
               "Pal Meriam", "Kebon Manggis")),
    # Jakarta Pusat (31.73)
    Kecamatan("Tanah Abang", _JP, "01", -6.2050, 106.8110, 9.3, 160_000,
              ("Gelora", "Bendungan Hilir", "Karet Tengsin", "Kebon Melati", "Petamburan",
               "Kebon Kacang", "Kampung Bali")),
    Kecamatan("Menteng", _JP, "02", -6.1960, 106.8360, 6.5, 70_000,
              ("Menteng", "Pegangsaan", "Cikini", "Kebon Sirih", "Gondangdia")),
    Kecamatan("Senen", _JP, "03", -6.1820, 106.8450, 4.2, 125_000,
              ("Senen", "Kwitang", "Kenari", "Paseban", "Kramat", "Bungur")),
    Kecamatan("Johar Baru", _JP, "04", -6.1850, 106.8570, 2.4, 120_000,
              ("Johar Baru", "Kampung Rawa", "Galur", "Tanah Tinggi")),
    Kecamatan("Cempaka Putih", _JP, "05", -6.1780, 106.8700, 4.7, 95_000,
              ("Cempaka Putih Timur", "Cempaka Putih Barat", "Rawasari")),
    Kecamatan("Kemayoran", _JP, "06", -6.1610, 106.8560, 7.3, 240_000,
              ("Kemayoran", "Kebon Kosong", "Harapan Mulya", "Serdang", "Gunung Sahari Selatan",
               "Cempaka Baru", "Sumur Batu", "Utan Panjang")),
    Kecamatan("Sawah Besar", _JP, "07", -6.1570, 106.8340, 6.2, 100_000,
              ("Pasar Baru", "Karang Anyar", "Kartini", "Gunung Sahari Utara",
               "Mangga Dua Selatan")),
    Kecamatan("Gambir", _JP, "08", -6.1720, 106.8160, 7.6, 80_000,
              ("Gambir", "Cideng", "Petojo Utara", "Petojo Selatan", "Kebon Kelapa",
               "Duri Pulo")),
    # Jakarta Barat (31.74)
    Kecamatan("Kembangan", _JB, "01", -6.1950, 106.7380, 24.2, 320_000,
              ("Kembangan Selatan", "Kembangan Utara", "Meruya Selatan", "Meruya Utara",
               "Srengseng", "Joglo")),
    Kecamatan("Kebon Jeruk", _JB, "02", -6.1950, 106.7720, 18.0, 360_000,
              ("Kebon Jeruk", "Duri Kepa", "Kedoya Selatan", "Kedoya Utara", "Kelapa Dua",
               "Sukabumi Selatan", "Sukabumi Utara")),
    Kecamatan("Palmerah", _JB, "03", -6.1980, 106.7960, 7.5, 205_000,
              ("Palmerah", "Slipi", "Kota Bambu Utara", "Kota Bambu Selatan", "Jatipulo",
               "Kemanggisan")),
    Kecamatan("Grogol Petamburan", _JB, "04", -6.1660, 106.7890, 10.0, 230_000,
              ("Grogol", "Jelambar", "Jelambar Baru", "Wijaya Kusuma", "Tanjung Duren Utara",
               "Tanjung Duren Selatan", "Tomang")),
    Kecamatan("Tambora", _JB, "05", -6.1460, 106.8010, 5.4, 240_000,
              ("Tambora", "Angke", "Jembatan Besi", "Jembatan Lima", "Kalianyar", "Krendang",
               "Duri Selatan", "Duri Utara", "Pekojan", "Roa Malaka", "Tanah Sereal")),
    Kecamatan("Taman Sari", _JB, "06", -6.1470, 106.8180, 4.4, 110_000,
              ("Taman Sari", "Glodok", "Pinangsia", "Keagungan", "Krukut", "Maphar",
               "Mangga Besar", "Tangki")),
    Kecamatan("Cengkareng", _JB, "07", -6.1500, 106.7350, 26.5, 560_000,
              ("Cengkareng Barat", "Cengkareng Timur", "Duri Kosambi", "Kapuk",
               "Kedaung Kali Angke", "Rawa Buaya")),
    Kecamatan("Kalideres", _JB, "08", -6.1350, 106.7030, 30.2, 450_000,
              ("Kalideres", "Kamal", "Pegadungan", "Semanan", "Tegal Alur")),
    # Jakarta Utara (31.75)
    Kecamatan("Penjaringan", _JU, "01", -6.1230, 106.7750, 35.5, 315_000,
              ("Penjaringan", "Pluit", "Pejagalan", "Kapuk Muara", "Kamal Muara")),
    Kecamatan("Pademangan", _JU, "02", -6.1320, 106.8400, 11.9, 165_000,
              ("Pademangan Barat", "Pademangan Timur", "Ancol")),
    Kecamatan("Tanjung Priok", _JU, "03", -6.1280, 106.8720, 22.5, 400_000,
              ("Tanjung Priok", "Kebon Bawang", "Sungai Bambu", "Papanggo", "Warakas",
               "Sunter Agung", "Sunter Jaya")),
    Kecamatan("Koja", _JU, "04", -6.1170, 106.9050, 12.3, 330_000,
              ("Koja", "Lagoa", "Rawa Badak Utara", "Rawa Badak Selatan", "Tugu Utara",
               "Tugu Selatan")),
    Kecamatan("Kelapa Gading", _JU, "05", -6.1600, 106.9050, 16.1, 145_000,
              ("Kelapa Gading Barat", "Kelapa Gading Timur", "Pegangsaan Dua")),
    Kecamatan("Cilincing", _JU, "06", -6.1220, 106.9450, 39.7, 440_000,
              ("Cilincing", "Kalibaru", "Marunda", "Rorotan", "Semper Barat", "Semper Timur",
               "Sukapura")),
)  # fmt: skip

KOTA_NAMES: tuple[str, ...] = tuple(k.name for k in KOTA)


def kota_named(name: str) -> Kota:
    """The kota with this exact name; `KeyError` naming the valid ones otherwise."""
    for kota in KOTA:
        if kota.name == name:
            return kota
    raise KeyError(f"unknown kota {name!r}; expected one of {', '.join(KOTA_NAMES)}")


def kecamatan_of(kota: str) -> tuple[Kecamatan, ...]:
    """The kecamatan of one kota, in code order; `KeyError` for an unknown kota."""
    kota_named(kota)
    return tuple(k for k in KECAMATAN if k.kota == kota)
